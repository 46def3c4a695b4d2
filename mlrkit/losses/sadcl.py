"""SADCL's dual contrastive losses (Ma et al., ECAI 2023; docs/method.md, "SADCL").

* :func:`sscl_loss` (sample-to-sample): variant A's supervised contrastive loss over two views,
  the current class embeddings and the embeddings of a memory bank
  (:class:`mlrkit.losses.memory.MemoryBank`).
* :func:`pscl_loss` / :class:`PSCLLoss` (prototype-to-sample) with learnable class prototypes.

* :class:`SADCLTerms`: both terms with their weights, the memory bank and the prototypes, as
  one part of :class:`mlrkit.losses.MultiLabelObjective`.

Differences from the released code, all deliberate:

- SSCL is computed over present pairs only. The released code builds a dense ``(2 B K)^2``
  similarity matrix and subtracts different detached maxima in numerator and denominator; that
  shifts the value only.
- The released SSCL does not compute the gradient of the formula it states, for batches of two
  or more images: it builds its per-anchor label mask in (sample, view, class) order while its
  feature rows are in (view, sample, class) order, so anchors are paired with the wrong rows'
  labels. mlrkit computes the formula; the released code with that one line fixed matches
  :func:`sscl_loss` to 1e-17. So values and gradients match the released code only for a batch
  of one image.
- SSCL averages over anchors that have a positive partner (the released code also counts
  anchors without one in the mean).
- PSCL leaves classes without a positive out by default; the released push-only term is
  available as ``absent_class="released"``.

As released (defaults): the weights 100 and 50 are relative to the released ASL scale,
``-sum / B / K * 1000`` (:func:`released_asl_ratio` converts them to the classification loss in
use, so they mean the same on every preset), and the memory bank starts at the class
prototypes (``bank_init="prototypes"``; ``"empty"`` keeps a bank that fills as it trains).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.losses._common import check_pairs, compute_dtype, full_precision, graph_zero
from mlrkit.losses.discriminative import present_rows, supcon_rows
from mlrkit.losses.memory import MemoryBank

AbsentClass = Literal["skip", "released"]
BankInit = Literal["prototypes", "empty"]
# The released ASL: -sum / B / K * RELEASED_ASL_SCALE (models/loss/aslloss.py of the SADCL code)
RELEASED_ASL_SCALE = 1000.0


def released_asl_ratio(reduction: str, targets: Tensor) -> float:
    """Our classification loss over the released SADCL's, for the same per-entry losses.

    The released ASL is ``L_r = S / (B K) * 1000`` with ``S`` the summed per-entry loss; ours is
    ``S`` (``reduction="sum"``) or ``S / n`` (``"mean"``, ``n`` the entries with a known target).
    SADCL's total ``L_r + 100 SSCL + 50 PSCL`` is therefore, on our scale,
    ``L + r (100 SSCL + 50 PSCL)`` with::

        r = L / L_r = B K / 1000           (sum)
                    = B K / (1000 n)       (mean)

    Args:
        reduction: the classification loss's reduction, ``"sum"`` or ``"mean"``.
        targets: ``(B, K)`` in {1, 0, -1} (-1 = unknown).

    Returns:
        ``r`` (a Python float: a constant of the batch, not part of the graph).
    """
    entries = float(targets.numel())
    if reduction == "sum":
        return entries / RELEASED_ASL_SCALE
    if reduction == "mean":
        known = max(int((targets >= 0).sum()), 1)
        return entries / (RELEASED_ASL_SCALE * known)
    raise InvalidInputError(
        f"released_asl_ratio: reduction must be 'sum' or 'mean', got {reduction!r}"
    )


def sscl_loss(
    embeddings: Tensor,
    targets: Tensor,
    bank_embeddings: Tensor | None = None,
    bank_targets: Tensor | None = None,
    temperature: float = 0.2,
) -> Tensor:
    """Sample-to-sample contrastive loss over the current view plus a memory-bank view.

    The present rows of both views (``y = 1``) form one set ``Z`` labelled by class. Every row
    is an anchor; its positives are all *other* rows of the same class (including the bank
    copy in the same slot, as in SupCon with two views); the denominator runs over all other
    rows::

        l_i = -1/|P_i| sum_{p in P_i} log( exp(z_i.z_p/t) / sum_{a != i} exp(z_i.z_a/t) )
        L = mean_{i in Z, |P_i| >= 1} l_i

    Without a bank this is exactly :func:`class_contrastive_loss`. Cost: ``|Z|^2`` similarities
    (``|Z|`` is about ``2 B x positives per image``), never ``(2 B K)^2``.

    Args:
        embeddings: ``(B, K, D)`` current class embeddings (normalised here).
        targets: ``(B, K)`` in {1, 0, -1}.
        bank_embeddings: ``(S, K, D)`` bank embeddings, or ``None`` for a single view.
        bank_targets: ``(S, K)`` which bank entries take part (1) and which not (0 / -1);
            required with ``bank_embeddings``. A bank entry ``(s, k)`` is a class-``k`` sample.
        temperature: ``t`` (SADCL: 0.2).

    Returns:
        Scalar loss; a graph-keeping zero when no anchor has a positive partner.
    """
    check_pairs(embeddings, targets, "sscl_loss")
    if bank_embeddings is not None:
        if bank_targets is None:
            raise InvalidInputError(
                "sscl_loss: bank_targets (S, K) is required with bank_embeddings"
            )
        check_pairs(bank_embeddings, bank_targets, "sscl_loss (bank view)")
        if bank_embeddings.shape[1:] != embeddings.shape[1:]:
            raise InvalidInputError(
                f"sscl_loss: bank view {tuple(bank_embeddings.shape)} must share (K, D) with "
                f"the current view {tuple(embeddings.shape)}"
            )
    dtype = (
        compute_dtype(embeddings)
        if bank_embeddings is None
        else compute_dtype(embeddings, bank_embeddings)
    )
    with full_precision(embeddings.device):
        z, labels = present_rows(embeddings, targets, dtype)
        if bank_embeddings is not None:
            zb, labels_b = present_rows(bank_embeddings, bank_targets, dtype)
            z, labels = torch.cat([z, zb]), torch.cat([labels, labels_b])  # (P + Pb, D)
        loss = supcon_rows(z, labels, temperature)
    return graph_zero(embeddings, bank_embeddings) if loss is None else loss


def pscl_loss(
    embeddings: Tensor,
    targets: Tensor,
    prototypes: Tensor,
    temperature: float = 0.07,
    absent_class: AbsentClass = "skip",
) -> Tensor:
    """Prototype-to-sample contrastive loss.

    With ``s_bk = cos(z_bk, p_k) / t`` and ``|P|`` the number of positives in the batch::

        T_k = log sum_{b: y_bk = 1} exp(s_bk) - log sum_{b: y_bk != -1} exp(s_bk)
        L = -(1/|P|) sum_{k with a positive} T_k

    Positives are pulled to their prototype, the class-``k`` features of images without ``k``
    are pushed from it; entries with ``y = -1`` take no part.

    Args:
        embeddings: ``(B, K, D)`` class embeddings.
        targets: ``(B, K)`` in {1, 0, -1}.
        prototypes: ``(K, D)`` class prototypes (normalised here).
        temperature: ``t`` (SADCL: 0.07).
        absent_class: ``"skip"`` (default) leaves a class without a positive in the batch out of
            the sum. ``"released"`` reproduces the released SADCL code, which instead adds
            ``+(1/|P|) log sum_b exp(s_bk - max_b s_bk)`` (max detached) for such a class: a
            push-only term.

    Returns:
        Scalar loss; a graph-keeping zero when the batch has no positive.
    """
    check_pairs(embeddings, targets, "pscl_loss")
    if prototypes.shape != embeddings.shape[1:]:
        raise InvalidInputError(
            f"pscl_loss: prototypes must be (K, D) = {tuple(embeddings.shape[1:])}, "
            f"got {tuple(prototypes.shape)}"
        )
    if absent_class not in ("skip", "released"):
        raise InvalidInputError(
            f"pscl_loss: absent_class must be 'skip' or 'released', got {absent_class!r}"
        )
    dtype = compute_dtype(embeddings, prototypes)
    with full_precision(embeddings.device):
        pos = targets == 1  # (B, K)
        known = targets != -1  # (B, K)
        num_pos = int(pos.sum())
        if num_pos == 0:
            return graph_zero(embeddings, prototypes)
        z = F.normalize(embeddings.to(dtype), dim=-1)  # (B, K, D)
        p = F.normalize(prototypes.to(dtype), dim=-1)  # (K, D)
        sim = torch.einsum("bkd,kd->bk", z, p) / temperature  # (B, K)
        neg_inf = torch.tensor(float("-inf"), dtype=dtype, device=sim.device)
        # only columns with a positive enter logsumexp: an all -inf column has a NaN gradient
        cols = pos.any(dim=0)  # (K,)
        s = sim[:, cols]  # (B, Kp)
        log_pos = torch.logsumexp(torch.where(pos[:, cols], s, neg_inf), dim=0)  # (Kp,)
        log_all = torch.logsumexp(torch.where(known[:, cols], s, neg_inf), dim=0)  # (Kp,)
        total = (log_pos - log_all).sum()
        if absent_class == "released":
            absent = ~cols & known.any(dim=0)  # classes with known entries but no positive
            if bool(absent.any()):
                sa = sim[:, absent]  # (B, Ka)
                ka = known[:, absent]
                shift = torch.where(ka, sa, neg_inf).amax(dim=0).detach()  # (Ka,)
                push = torch.logsumexp(torch.where(ka, sa - shift, neg_inf), dim=0)  # (Ka,)
                total = total - push.sum()
        return -total / num_pos


class PSCLLoss(nn.Module):
    """PSCL with its learnable prototypes ``(K, D)`` as a parameter.

    Prototypes start random (unit norm); replace them with :func:`init_prototypes`'s class means
    before fine-tuning, as SADCL does (``set_prototypes``).
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        temperature: float = 0.07,
        absent_class: AbsentClass = "skip",
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.absent_class: AbsentClass = absent_class
        self.prototypes = nn.Parameter(F.normalize(torch.randn(num_classes, dim), dim=-1))

    @torch.no_grad()
    def set_prototypes(self, prototypes: Tensor) -> None:
        """Copy ``(K, D)`` prototypes (e.g. from :func:`init_prototypes`) into the parameter."""
        if prototypes.shape != self.prototypes.shape:
            raise InvalidInputError(
                f"PSCLLoss.set_prototypes: expected {tuple(self.prototypes.shape)}, "
                f"got {tuple(prototypes.shape)}"
            )
        self.prototypes.copy_(prototypes.to(self.prototypes))

    def forward(self, embeddings: Tensor, targets: Tensor) -> Tensor:
        """Apply :func:`pscl_loss` against the learnable prototypes."""
        return pscl_loss(embeddings, targets, self.prototypes, self.temperature, self.absent_class)

    def extra_repr(self) -> str:
        k, d = self.prototypes.shape
        return (
            f"num_classes={k}, dim={d}, temperature={self.temperature}, "
            f"absent_class={self.absent_class!r}"
        )


BankLabels = Literal["stored", "current"]


class SADCLTerms(nn.Module):
    """SADCL's two terms as one part of the objective: SSCL over a memory bank, PSCL.

    Owns the memory bank (raw class features, projected with the current projection at every
    step, as the released code does) and the learnable prototypes; returns the unweighted terms
    ``{"sscl", "pscl"}`` and keeps their weights in ``sscl_weight`` / ``pscl_weight``. In
    training mode the bank is updated after both terms were computed with the previous bank.

    Args:
        num_classes: ``K``.
        feature_dim: ``C`` of the class features the bank stores.
        embed_dim: ``D`` of the projected embeddings the prototypes live in.
        sscl_weight, pscl_weight: SADCL's weights (100 and 50).
        sscl_temperature, pscl_temperature: 0.2 and 0.07.
        absent_class: PSCL's handling of classes absent from the batch (see :func:`pscl_loss`).
        bank_size: memory-bank slots, normally the training batch size (the bank grows when a
            batch is larger).
        bank_threshold: memory-bank update threshold on ``sigmoid(logit)`` (0.8).
        bank_labels: ``"stored"`` (default): a bank entry takes part as a class-``k`` sample iff
            it holds a feature. ``"current"``: the released code's rule, entry ``(b, k)`` takes
            part iff the *current* batch has ``y_bk = 1`` (and the entry holds a feature).
        bank_init: ``"prototypes"`` (default, as released): :meth:`start_bank` fills every slot
            with the class means of the raw class features; ``"empty"``: the bank starts
            empty and only holds what training stored.
        released_scale: the weights are relative to the released ASL scale (default; see
            :func:`released_asl_ratio`); False: relative to the classification loss as it is.
    """

    def __init__(
        self,
        num_classes: int,
        feature_dim: int,
        embed_dim: int,
        *,
        sscl_weight: float = 100.0,
        pscl_weight: float = 50.0,
        sscl_temperature: float = 0.2,
        pscl_temperature: float = 0.07,
        absent_class: AbsentClass = "skip",
        bank_size: int = 64,
        bank_threshold: float = 0.8,
        bank_labels: BankLabels = "stored",
        bank_init: BankInit = "prototypes",
        released_scale: bool = True,
    ) -> None:
        super().__init__()
        if bank_labels not in ("stored", "current"):
            raise InvalidInputError(
                f"SADCLTerms: bank_labels must be 'stored' or 'current', got {bank_labels!r}"
            )
        if bank_init not in ("prototypes", "empty"):
            raise InvalidInputError(
                f"SADCLTerms: bank_init must be 'prototypes' or 'empty', got {bank_init!r}"
            )
        self.bank_init: BankInit = bank_init
        self.released_scale = bool(released_scale)
        self.sscl_weight = float(sscl_weight)
        self.pscl_weight = float(pscl_weight)
        self.sscl_temperature = sscl_temperature
        self.bank_labels: BankLabels = bank_labels
        self.bank = MemoryBank(bank_size, num_classes, feature_dim, threshold=bank_threshold)
        self.pscl = PSCLLoss(num_classes, embed_dim, pscl_temperature, absent_class)

    def start_bank(self, class_means: Tensor) -> None:
        """Start the bank at the start of stage 2: every slot at ``class_means`` ``(K, C)``
        with ``bank_init="prototypes"``, untouched (empty) with ``"empty"``."""
        if self.bank_init == "prototypes":
            self.bank.fill(class_means)

    def _bank_view(
        self, targets: Tensor, like: Tensor, project: Callable[[Tensor], Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Projected bank embeddings ``(S, K, D)`` (valid entries only) and labels ``(S, K)``."""
        valid = self.bank.valid  # (S, K)
        stored = self.bank.features[valid].to(like.dtype)  # (V, C)
        projected = project(stored)  # (V, D)
        emb = projected.new_zeros(*valid.shape, projected.shape[-1])  # (S, K, D)
        emb = emb.index_put((valid.nonzero(as_tuple=True)), projected)
        if self.bank_labels == "stored":
            return emb, valid.to(targets.dtype)
        current = torch.zeros_like(valid, dtype=targets.dtype)
        rows = min(targets.shape[0], valid.shape[0])
        current[:rows] = torch.where(valid[:rows], targets[:rows], torch.zeros_like(targets[:rows]))
        return emb, current

    def forward(
        self,
        embeddings: Tensor,
        features: Tensor,
        logits: Tensor,
        targets: Tensor,
        project: Callable[[Tensor], Tensor],
    ) -> dict[str, Tensor]:
        """Both terms for one batch; updates the bank afterwards in training mode.

        Args:
            embeddings: ``(B, K, D)`` projected class features of the batch.
            features: ``(B, K, C)`` raw class features (what the bank stores).
            logits: ``(B, K)`` (the bank stores confidently-correct positives only).
            targets: ``(B, K)`` in {1, 0, -1}.
            project: the objective's projection, applied to the stored features.

        Returns:
            ``{"sscl": ..., "pscl": ...}``, unweighted.
        """
        bank_z, bank_t = self._bank_view(targets, features, project)
        terms = {
            "sscl": sscl_loss(embeddings, targets, bank_z, bank_t, self.sscl_temperature),
            "pscl": self.pscl(embeddings, targets),
        }
        if self.training:
            self.bank.update(features.detach(), logits.detach(), targets)
        return terms

    def extra_repr(self) -> str:
        return (
            f"sscl_weight={self.sscl_weight}, pscl_weight={self.pscl_weight}, "
            f"sscl_temperature={self.sscl_temperature}, bank_labels={self.bank_labels!r}, "
            f"bank_init={self.bank_init!r}, released_scale={self.released_scale}"
        )
