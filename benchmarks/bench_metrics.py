"""mAP at COCO-val size: mlrkit vs sklearn's per-class loop vs torchmetrics, in one run.

Problem: 40,504 images x 80 classes, ~3% positives, float32 logits quantised to 0.01 so that
ties occur (as with low-precision outputs). Each implementation runs a few times on the same
inputs; the best time is printed with the ratios and the largest per-class AP difference.
Target: mlrkit >= 5x faster than both, |AP - sklearn| <= 1e-9.

Run: ``.venv/bin/python benchmarks/bench_metrics.py``
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score
from torchmetrics.functional.classification import multilabel_average_precision

from mlrkit.metrics import average_precision

N, K, POSITIVE_RATE, SEED = 40_504, 80, 0.03, 0


def make_problem() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(SEED)
    targets = (rng.random((N, K)) < POSITIVE_RATE).astype(np.float32)  # (N, K)
    logits = rng.normal(size=(N, K)) + 2.0 * targets - 3.0
    logits = np.round(logits, 2).astype(np.float32)  # quantised: many ties per class
    return torch.from_numpy(logits), torch.from_numpy(targets)


def best_time(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    result, times = fn(), []  # first call warms caches and lazy imports
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    logits, targets = make_problem()
    distinct = np.mean([len(np.unique(logits[:, k].numpy())) for k in range(K)])
    print(
        f"problem: {N} x {K}, positives {targets.mean().item():.2%}, "
        f"{distinct:.0f} distinct scores per class (ties)"
    )
    print(f"torch threads: {torch.get_num_threads()}; best of several runs each")

    scores_np, targets_np = logits.numpy(), targets.numpy().astype(np.int64)

    def sklearn_loop() -> np.ndarray:
        return np.array(
            [average_precision_score(targets_np[:, k], scores_np[:, k]) for k in range(K)]
        )

    def torchmetrics_ap() -> np.ndarray:
        ap = multilabel_average_precision(
            logits, targets.long(), num_labels=K, average="none", thresholds=None
        )
        return ap.numpy().astype(np.float64)

    runs = {
        "mlrkit": best_time(lambda: average_precision(logits, targets), repeats=10),
        "sklearn loop": best_time(sklearn_loop, repeats=3),
        "torchmetrics": best_time(torchmetrics_ap, repeats=3),
    }
    reference = runs["sklearn loop"][1]
    mine = runs["mlrkit"][0]
    print(f"{'implementation':<14} {'time (ms)':>10} {'x mlrkit':>9} {'max |AP - sklearn|':>19}")
    for name, (seconds, ap) in runs.items():
        diff = np.abs(ap - reference).max()
        print(f"{name:<14} {1e3 * seconds:>10.1f} {seconds / mine:>9.1f} {diff:>19.2e}")
    diff = np.abs(runs["mlrkit"][1] - reference).max()
    speedups = min(runs["sklearn loop"][0], runs["torchmetrics"][0]) / mine
    print(
        f"mAP x100: mlrkit {100 * runs['mlrkit'][1].mean():.4f}, "
        f"sklearn {100 * reference.mean():.4f}"
    )
    verdict = "met" if speedups >= 5 and diff <= 1e-9 else "NOT met"
    print(
        f"target (>= 5x faster than both, diff <= 1e-9): {verdict} "
        f"(speed-up vs the faster of the two: {speedups:.1f}x, diff {diff:.1e})"
    )


if __name__ == "__main__":
    main()
