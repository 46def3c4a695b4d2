"""SSCL over present pairs (mlrkit) vs a dense (2·B·K)² formulation like the released SADCL code.

COCO-like sizes: B=64 images, K=80 classes, D=1024, ~2.9 positives per image, two views (the
current embeddings and a memory bank, both requiring grad as in SADCL, where the bank goes
through the projection head). Forward + backward on CPU.

Measured side by side in one run:
* time: median wall time of several forward+backward passes (after one warm-up pass);
* peak memory: each method runs in a fresh subprocess; we report the increase of the process's
  peak resident set size (``resource.getrusage(...).ru_maxrss``, the kernel's high-water mark)
  over the RSS measured just before the first pass, inputs already built. It counts everything
  the pass makes resident (tensors, autograd buffers, allocator slack, thread-pool stacks);
* gradients: max |difference| of both views' gradients between the two methods (float32).

The dense reference follows the released ``MultiSupConLoss`` structure (a (K, 2B, 2B) same-class
logit block and a full (2BK)² similarity matrix with float masks for the denominator), but
uses one detached max in numerator and denominator and averages over anchors with a positive,
so it computes exactly mlrkit's loss (the released code's value differs: docs/method.md,
"How mlrkit differs from the released SADCL code").

Run: ``.venv/bin/python benchmarks/bench_losses.py``
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

import psutil
import torch
import torch.nn.functional as F

from mlrkit.losses import sscl_loss

B, K, D, MEAN_POSITIVES, TAU = 64, 80, 1024, 2.9, 0.2
RUNS = {"mlrkit": 7, "dense": 3}


def make_inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embeddings of both views ``(B, K, D)`` and targets ``(B, K)`` with ~2.9 positives/image.

    Class frequencies are Zipf-like (as COCO, where 'person' dominates), so classes recur
    across images and most anchors have positive partners.
    """
    g = torch.Generator().manual_seed(seed)
    weights = 1.0 / torch.arange(1, K + 1, dtype=torch.float64) ** 0.8
    counts = torch.poisson(torch.full((B,), MEAN_POSITIVES - 1.0), generator=g).long() + 1
    targets = torch.zeros(B, K)
    for b in range(B):
        classes = torch.multinomial(weights, int(counts[b].clamp(max=K)), generator=g)
        targets[b, classes] = 1.0
    current = torch.randn(B, K, D, generator=g).requires_grad_(True)
    bank = torch.randn(B, K, D, generator=g).requires_grad_(True)
    return current, bank, targets


def mlrkit_sscl(current: torch.Tensor, bank: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # as the released code, the bank view is labelled with the current targets
    return sscl_loss(current, targets, bank, targets, temperature=TAU)


def dense_sscl(current: torch.Tensor, bank: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dense reference materialising the (2·B·K)² similarity matrix, released-code style."""
    features = F.normalize(torch.stack([current, bank], dim=1), dim=-1)  # (B, 2, K, D)
    views = torch.cat(torch.unbind(features, dim=1), dim=0)  # (2B, K, D)
    n = views.shape[0]  # 2B
    labels = torch.cat([targets, targets], dim=0)  # (2B, K)
    # same class, other sample: a (K, 2B, 2B) block of logits
    intra = torch.matmul(views.transpose(1, 0), views.permute(1, 2, 0)) / TAU  # (K, 2B, 2B)
    mask_intra = labels.T.unsqueeze(-1) * labels.T.unsqueeze(1)  # (K, 2B, 2B)
    mask_intra = mask_intra * (1.0 - torch.eye(n)).repeat(K, 1, 1)
    # every pair: the full (2BK)² similarity matrix and float masks
    flat = views.reshape(-1, views.shape[-1])  # (2BK, D)
    sim = flat @ flat.T / TAU  # (2BK, 2BK)
    flat_labels = labels.reshape(-1, 1)  # (2BK, 1)
    all_mask = (flat_labels @ flat_labels.T) * (1.0 - torch.eye(flat.shape[0]))  # (2BK, 2BK)
    shift = (sim * all_mask).max(dim=-1, keepdim=True).values.detach()  # (2BK, 1)
    denom = (all_mask * torch.exp(sim - shift)).sum(-1, keepdim=True)  # (2BK, 1)
    log_denom = torch.log(torch.where(denom > 0, denom, torch.ones_like(denom))) + shift
    # back to (2B·K, 2B) rows of anchors, in the same (sample, class) order as flat
    intra = intra.permute(1, 0, 2).reshape(n * K, n)  # (2BK, 2B)
    mask_intra = mask_intra.permute(1, 0, 2).reshape(n * K, n)  # (2BK, 2B)
    log_prob = intra - log_denom  # (2BK, 2B)
    num_pos = mask_intra.sum(-1)  # (2BK,)
    per_anchor = -(mask_intra * log_prob).sum(-1) / num_pos.clamp(min=1)
    anchors = (num_pos > 0).float()
    return (per_anchor * anchors).sum() / anchors.sum()


IMPLEMENTATIONS = {"mlrkit": mlrkit_sscl, "dense": dense_sscl}


def step(method: str, current, bank, targets) -> tuple[float, torch.Tensor, torch.Tensor]:
    current.grad = bank.grad = None
    loss = IMPLEMENTATIONS[method](current, bank, targets)
    loss.backward()
    return loss.item(), current.grad, bank.grad


def measure(method: str) -> dict[str, float]:
    """Peak-RSS increase of the first pass, then the median time of the next passes."""
    current, bank, targets = make_inputs()
    baseline = psutil.Process().memory_info().rss
    step(method, current, bank, targets)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    times = []
    for _ in range(RUNS[method]):
        start = time.perf_counter()
        step(method, current, bank, targets)
        times.append(time.perf_counter() - start)
    return {"peak_mib": (peak - baseline) / 2**20, "median_s": statistics.median(times)}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
        return
    current, bank, targets = make_inputs()
    present = int(targets.sum())
    print(
        f"SSCL forward+backward, B={B} K={K} D={D}, {present / B:.2f} positives/image, two views "
        f"({2 * present} present rows vs {2 * B * K} dense rows); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )
    results = {}
    for method in IMPLEMENTATIONS:
        out = subprocess.run(
            [sys.executable, __file__, "--measure", method],
            check=True,
            capture_output=True,
            text=True,
        )
        results[method] = json.loads(out.stdout.strip().splitlines()[-1])
    # step() rebinds .grad to None before each pass, so the returned tensors stay intact
    value_m, grad_cm, grad_bm = step("mlrkit", current, bank, targets)
    value_d, grad_cd, grad_bd = step("dense", current, bank, targets)
    grad_diff = max((grad_cm - grad_cd).abs().max().item(), (grad_bm - grad_bd).abs().max().item())
    grad_scale = max(grad_cd.abs().max().item(), grad_bd.abs().max().item())
    print(f"{'method':<8} {'median time (s)':>16} {'peak RSS increase (MiB)':>24}")
    for method, r in results.items():
        print(f"{method:<8} {r['median_s']:>16.4f} {r['peak_mib']:>24.1f}")
    m, d = results["mlrkit"], results["dense"]
    print(f"speed-up (dense / mlrkit time): {d['median_s'] / m['median_s']:.1f}x (target >= 5x)")
    print(
        "memory ratio (dense / mlrkit peak increase): "
        f"{d['peak_mib'] / max(m['peak_mib'], 1e-3):.1f}x (target >= 10x)"
    )
    print(f"loss: mlrkit {value_m:.6f}, dense {value_d:.6f}, |diff| {abs(value_m - value_d):.2e}")
    print(
        f"max |grad difference| over both views: {grad_diff:.2e} (target <= 1e-5; "
        f"largest gradient entry {grad_scale:.2e}, relative {grad_diff / grad_scale:.1e})"
    )


if __name__ == "__main__":
    main()
