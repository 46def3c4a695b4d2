"""Discriminative losses on class features (docs/method.md, a **reconstruction**).

The paper (Hassanin et al., 2022) states the goal (pull same-class features together, push
classes apart) but its equations were not recoverable; both variants here are mlrkit's
reconstruction, grounded in SupCon-style multi-label losses (MulCon, SADCL).

* Variant A, :func:`class_contrastive_loss`: supervised contrastive loss over the present
  pairs ``P = {(b, k) : y_bk = 1}``, the label of ``(b, k)`` being ``k``.
* Variant B, :func:`center_margin_loss` / :class:`CenterMarginLoss`: pull to EMA class centres,
  hinge on the distance between centres.

Only the ``|P|`` present rows are gathered (``|P| x |P|`` similarities); no dense
``(B K)^2`` matrix is ever built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.losses._common import check_pairs, compute_dtype, full_precision, graph_zero


def supcon_rows(z: Tensor, labels: Tensor, temperature: float) -> Tensor | None:
    """Supervised contrastive loss over rows that all take part (the shared core).

    For anchor ``i`` with positives ``P_i = {j != i : label_j = label_i}``::

        l_i = -1/|P_i| sum_{p in P_i} log( exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t) )

    and the loss is the mean of ``l_i`` over anchors with ``|P_i| >= 1``.

    Args:
        z: ``(N, E)`` L2-normalised rows, already in the compute dtype.
        labels: ``(N,)`` integer class of each row.
        temperature: ``t``.

    Returns:
        The scalar loss, or ``None`` when no anchor has a positive partner.
    """
    n = z.shape[0]
    if n < 2:
        return None
    sim = z @ z.T / temperature  # (N, N)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    pos = (labels[:, None] == labels[None, :]) & ~eye  # (N, N)
    num_pos = pos.sum(dim=1)  # (N,)
    has_pos = num_pos > 0
    if not bool(has_pos.any()):
        return None
    # logsumexp over a != i: the diagonal is removed with -inf, never multiplied by a mask
    log_denom = torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=1)  # (N,)
    log_prob = sim - log_denom[:, None]  # (N, N), finite everywhere
    pos_sum = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(dim=1)  # (N,)
    per_anchor = -pos_sum[has_pos] / num_pos[has_pos].to(z.dtype)
    return per_anchor.mean()


def present_rows(embeddings: Tensor, targets: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Gather and L2-normalise the present rows ``y_bk = 1`` of a ``(B, K, D)`` tensor.

    Returns:
        ``z (P, D)`` normalised in ``dtype`` and ``labels (P,)`` (the class ``k`` of each row).
    """
    present = targets == 1  # (B, K)
    z = F.normalize(embeddings[present].to(dtype), dim=-1)  # (P, D)
    labels = present.nonzero()[:, 1]  # (P,)
    return z, labels


def class_contrastive_loss(embeddings: Tensor, targets: Tensor, temperature: float = 0.2) -> Tensor:
    """Variant A: supervised contrastive loss over present class features.

    With ``z_bk = normalize(e_bk)`` over ``P = {(b, k) : y_bk = 1}``, positives of ``(b, k)``
    are ``(b', k)``, ``b' != b``; the denominator runs over every other element of ``P``::

        l_bk = -1/|P_bk| sum_p log( exp(z.z_p/t) / sum_{a != self} exp(z.z_a/t) )
        L = mean_{anchors with >= 1 positive} l_bk

    Anchors without a positive partner are excluded; if none has one, a zero connected to
    ``embeddings`` is returned (never NaN). Entries with ``y = 0`` or ``-1`` take no part.
    Computed in float32 (float64 for float64 inputs) with autocast off.

    Args:
        embeddings: ``(B, K, D)`` class embeddings (normalised here).
        targets: ``(B, K)`` in {1, 0, -1}.
        temperature: ``t`` (default 0.2).

    Returns:
        Scalar loss.
    """
    check_pairs(embeddings, targets, "class_contrastive_loss")
    dtype = compute_dtype(embeddings)
    with full_precision(embeddings.device):
        z, labels = present_rows(embeddings, targets, dtype)
        loss = supcon_rows(z, labels, temperature)
    return graph_zero(embeddings) if loss is None else loss


class ClassContrastiveLoss(nn.Module):
    """Module form of :func:`class_contrastive_loss` (temperature stored)."""

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, embeddings: Tensor, targets: Tensor) -> Tensor:
        """Apply :func:`class_contrastive_loss`."""
        return class_contrastive_loss(embeddings, targets, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def center_margin_loss(
    embeddings: Tensor,
    targets: Tensor,
    centers: Tensor,
    margin: float = 1.0,
    intra_weight: float = 1.0,
    inter_weight: float = 1.0,
    center_mask: Tensor | None = None,
) -> Tensor:
    """Variant B: centre pull plus a margin between class centres.

    With ``z_bk = normalize(e_bk)``::

        L_intra = mean_{(b,k) in P} ||z_bk - c_k||^2
        L_inter = mean_{k < l, both valid} max(0, m - ||c_k - c_l||)^2
        L = intra_weight * L_intra + inter_weight * L_inter

    ``||c_k - c_l||`` is computed as ``sqrt(d^2 + 1e-12)`` so that coinciding centres give a
    finite gradient. Either term is an exact, graph-keeping zero when it has no pair.

    Args:
        embeddings: ``(B, K, D)`` class embeddings.
        targets: ``(B, K)`` in {1, 0, -1}.
        centers: ``(K, D)`` class centres (may require grad, see :class:`CenterMarginLoss`).
        margin: ``m``.
        intra_weight: weight of ``L_intra``.
        inter_weight: weight of ``L_inter``.
        center_mask: ``(K,)`` bool, centres that exist (default: all).

    Returns:
        Scalar loss.
    """
    check_pairs(embeddings, targets, "center_margin_loss")
    if centers.shape != (embeddings.shape[1], embeddings.shape[2]):
        raise InvalidInputError(
            f"center_margin_loss: centers must be (K, D) = {tuple(embeddings.shape[1:])}, "
            f"got {tuple(centers.shape)}"
        )
    dtype = compute_dtype(embeddings, centers)
    zero = graph_zero(embeddings, centers)
    with full_precision(embeddings.device):
        c = centers.to(dtype)
        z, labels = present_rows(embeddings, targets, dtype)
        intra = ((z - c[labels]) ** 2).sum(dim=-1).mean() if z.shape[0] > 0 else zero
        valid = (
            torch.ones(c.shape[0], dtype=torch.bool, device=c.device)
            if center_mask is None
            else center_mask.to(device=c.device, dtype=torch.bool)
        )
        cv = c[valid]  # (V, D)
        if cv.shape[0] >= 2:
            first, second = torch.triu_indices(cv.shape[0], cv.shape[0], offset=1, device=c.device)
            dist = (((cv[first] - cv[second]) ** 2).sum(dim=-1) + 1e-12).sqrt()  # (V (V-1) / 2,)
            inter = torch.relu(margin - dist).pow(2).mean()
        else:
            inter = zero
    return intra_weight * intra + inter_weight * inter


class CenterMarginLoss(nn.Module):
    """Variant B with class centres kept as an EMA of batch means (buffers, saved in checkpoints).

    In each forward, for every class ``k`` present in the batch the centre used is::

        c'_k = momentum * c_k + (1 - momentum) * mean_{b : y_bk = 1} z_bk

    (``c'_k`` = the batch mean when ``c_k`` has never been set).

    The batch-mean part carries gradient, so ``L_inter`` pushes this batch's features apart
    (with buffers alone it would be a constant). Absent classes keep their stored centre
    (no gradient). In training mode the buffers are then set to ``c'`` under ``no_grad``.

    Buffers:
        centers: ``(K, D)`` float32. initialized: ``(K,)`` bool, classes seen at least once.
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        margin: float = 1.0,
        momentum: float = 0.9,
        intra_weight: float = 1.0,
        inter_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise InvalidInputError(f"CenterMarginLoss: momentum must be in [0, 1), got {momentum}")
        self.margin = margin
        self.momentum = momentum
        self.intra_weight = intra_weight
        self.inter_weight = inter_weight
        self.register_buffer("centers", torch.zeros(num_classes, dim))
        self.register_buffer("initialized", torch.zeros(num_classes, dtype=torch.bool))

    def blended_centers(self, embeddings: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """The centres ``c'`` used by this batch and the mask of classes present in it."""
        dtype = compute_dtype(embeddings)
        num_classes = self.centers.shape[0]
        with full_precision(embeddings.device):
            z, labels = present_rows(embeddings, targets, dtype)  # (P, D), (P,)
            sums = z.new_zeros(num_classes, z.shape[1]).index_add(0, labels, z)  # (K, D)
            counts = torch.bincount(labels, minlength=num_classes)  # (K,)
            present = counts > 0
            means = sums / counts.clamp(min=1).to(dtype)[:, None]
            # copies: the buffers are updated in place after the loss, autograd must not see it
            old = self.centers.to(dtype, copy=True)
            seen = self.initialized.clone()
            m = self.momentum
            blended = torch.where(seen[:, None], m * old + (1 - m) * means, means)
            centers = torch.where(present[:, None], blended, old)  # (K, D)
        return centers, present

    def forward(self, embeddings: Tensor, targets: Tensor) -> Tensor:
        """Loss with the blended centres; updates the EMA buffers in training mode."""
        check_pairs(embeddings, targets, "CenterMarginLoss")
        centers, present = self.blended_centers(embeddings, targets)
        loss = center_margin_loss(
            embeddings,
            targets,
            centers,
            margin=self.margin,
            intra_weight=self.intra_weight,
            inter_weight=self.inter_weight,
            center_mask=self.initialized | present,
        )
        if self.training:
            with torch.no_grad():
                self.centers.copy_(centers.detach().to(self.centers.dtype))
                self.initialized |= present
        return loss

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.centers.shape[0]}, dim={self.centers.shape[1]}, "
            f"margin={self.margin}, momentum={self.momentum}, "
            f"intra_weight={self.intra_weight}, inter_weight={self.inter_weight}"
        )
