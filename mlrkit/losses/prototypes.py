"""Initial PSCL prototypes: class means of confidently-correct samples (SADCL, stage 1 -> 2).

Pure tensor bookkeeping: :class:`PrototypeAccumulator` takes batches of projected class
features, logits and targets and computes the prototypes. Running the model over the training
set is the training side's job (``mlrkit.train.stages``), so this package never touches a
DataLoader.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mlrkit.errors import InvalidInputError

__all__ = ["PrototypeAccumulator"]


class PrototypeAccumulator:
    """Class means of normalised embeddings of confidently-correct positives.

    For each class ``k``, over every batch passed to :meth:`update`::

        C_k = {b : y_bk = 1 and sigmoid(logit_bk) > threshold}
        p_k = normalize( mean_{b in C_k} normalize(z_bk) )

    A class with no such sample falls back, with a warning naming it, to the mean over its
    positives (``y = 1``) whatever their score; a class with no positive at all falls back to
    the mean over every image. Sums are kept in float64. (The released SADCL code stores the
    means before the projection and projects them at each step; mlrkit keeps prototypes in the
    embedding space where PSCL compares them.)

    With ``normalize=False`` the rows are averaged as they are and the means are returned
    unnormalised: ``p_k = mean_{b in C_k} z_bk`` (the released code's class prototypes, which
    start SADCL's memory bank in the space of the raw class features).

    Args:
        threshold: score a positive must exceed (SADCL: 0.85).
        classes: class names for the warnings (default ``"class k"``).
        normalize: normalise the rows before averaging and the means after (default).
        warn: warn about classes that fall back (off for a second accumulator over the same
            samples, whose fallbacks are the same).
    """

    def __init__(
        self,
        threshold: float = 0.85,
        classes: Sequence[str] | None = None,
        *,
        normalize: bool = True,
        warn: bool = True,
    ) -> None:
        self.threshold = threshold
        self.classes = tuple(classes) if classes is not None else None
        self.normalize = normalize
        self.warn = warn
        # (sum (K, D), count (K,)) over confident positives, all positives, every image
        self._sums: list[Tensor] | None = None
        self._counts: list[Tensor] | None = None

    @torch.no_grad()
    def update(self, embeddings: Tensor, logits: Tensor, targets: Tensor) -> None:
        """Add a batch.

        Args:
            embeddings: ``(B, K, D)`` projected class features (normalised here).
            logits: ``(B, K)``.
            targets: ``(B, K)`` in {1, 0, -1}.
        """
        pairs = embeddings.shape[:2]
        if embeddings.dim() != 3 or logits.shape != pairs or targets.shape != pairs:
            raise InvalidInputError(
                "PrototypeAccumulator.update: expected embeddings (B, K, D), logits and targets "
                f"(B, K); got {tuple(embeddings.shape)}, {tuple(logits.shape)}, "
                f"{tuple(targets.shape)}"
            )
        z = embeddings.double()  # (B, K, D)
        if self.normalize:
            z = F.normalize(z, dim=-1)
        pos = targets == 1  # (B, K)
        conf = pos & (torch.sigmoid(logits.double()) > self.threshold)  # (B, K)
        masks = (conf, pos, torch.ones_like(pos))
        sums = [(z * mask[..., None]).sum(0) for mask in masks]  # 3 x (K, D)
        counts = [mask.sum(0) for mask in masks]  # 3 x (K,)
        if self._sums is None or self._counts is None:
            self._sums, self._counts = sums, counts
        else:
            for i in range(3):
                self._sums[i] += sums[i]
                self._counts[i] += counts[i]

    def _names(self, mask: Tensor) -> list[str]:
        ks = mask.nonzero()[:, 0].tolist()
        named = self.classes is not None and len(self.classes) == mask.shape[0]
        return [self.classes[k] if named else f"class {k}" for k in ks]  # type: ignore[index]

    def compute(self) -> Tensor:
        """The ``(K, D)`` float32 prototypes, unit-norm unless ``normalize=False`` (warns about
        classes that fell back).

        Raises:
            InvalidInputError: no batch was added.
        """
        if self._sums is None or self._counts is None:
            raise InvalidInputError(
                "PrototypeAccumulator.compute: no batch was added; pass the training set"
            )
        (confident, positive, everything) = self._sums
        (n_conf, n_pos, n_all) = self._counts
        means = confident / n_conf.clamp(min=1)[:, None]
        no_conf = n_conf == 0
        use_pos = no_conf & (n_pos > 0)
        use_all = no_conf & (n_pos == 0)
        if bool(use_pos.any()) and self.warn:
            warnings.warn(
                f"init_prototypes: no confidently-correct sample (y=1 and sigmoid(logit) > "
                f"{self.threshold}) for {self._names(use_pos)}; using the mean of their positive "
                "samples",
                stacklevel=2,
            )
        means[use_pos] = (positive / n_pos.clamp(min=1)[:, None])[use_pos]
        if bool(use_all.any()) and self.warn:
            warnings.warn(
                f"init_prototypes: no positive sample at all for {self._names(use_all)}; using "
                "the mean of their class features over every image",
                stacklevel=2,
            )
        means[use_all] = (everything / n_all.clamp(min=1)[:, None])[use_all]
        return (F.normalize(means, dim=-1) if self.normalize else means).float()
