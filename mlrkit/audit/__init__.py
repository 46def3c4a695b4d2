"""Label audit: which given labels of a split are likely wrong, from scores and class features."""

from mlrkit.audit.crossfit import CrossFit, cross_fit

__all__ = ["CrossFit", "cross_fit"]
