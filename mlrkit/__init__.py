"""mlrkit: a Jupyter-centric experimentation kit for multi-label image recognition."""

__version__ = "0.1.0"
