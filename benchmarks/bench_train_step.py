"""Training throughput on CPU: GAP + BCE vs class attention + discriminative loss vs + SADCL.

Same backbone, input size and batch for every setup; each timed unit is a full training step
through ``mlrkit.train.train_one_epoch`` (forward, objective, backward, AdamW step). The setups
run interleaved, round after round, so that background load hits them alike; the median
images/s per setup and the overhead ratios against GAP + BCE are printed from this one run.

Setups:
    gap+bce             GAP head, BCE (the classic baseline)
    attn+bce            class-attention head, BCE (the head's cost alone)
    attn+asl+disc-A     class-attention head, ASL + variant A contrastive loss (default method)
    attn+asl+sadcl      class-attention head, ASL + SSCL (memory bank) + PSCL (stage 2 of SADCL)

Usage:
    python benchmarks/bench_train_step.py [--backbone digitnet] [--size 64] [--batch 64]
                                          [--steps 6] [--rounds 5]

Target: attn+asl+disc-A costs <= 15% over gap+bce.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from mlrkit.config import OptimConfig
from mlrkit.losses import build_objective
from mlrkit.models import build_model
from mlrkit.train import build_optimizer, train_one_epoch

K = 10
SETUPS = {  # name: (head, loss setup)
    "gap+bce": ("gap", "bce"),
    "attn+bce": ("class_attention", "bce"),
    "attn+asl+disc-A": ("class_attention", "disc-contrastive"),
    "attn+asl+sadcl": ("class_attention", "sadcl"),
}


def make_setup(name: str, backbone: str, batch: int):
    head, setup = SETUPS[name]
    torch.manual_seed(0)
    model = build_model(backbone, head=head, num_classes=K)
    options = {"bank_size": batch, "stage": 2} if setup == "sadcl" else {}
    objective = build_objective(setup, K, model.feature_dim, **options)
    optimizer = build_optimizer(model, [objective], OptimConfig(lr=1e-3))
    return model, objective, optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="digitnet")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="training steps per timed unit")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    n = args.batch * args.steps
    images = torch.randn(n, 3, args.size, args.size, generator=g)
    targets = (torch.rand(n, K, generator=g) < 0.22).float()  # ~2.2 labels/image, like digits
    loader = DataLoader(TensorDataset(images, targets), batch_size=args.batch, shuffle=False)
    device = torch.device("cpu")
    setups = {name: make_setup(name, args.backbone, args.batch) for name in SETUPS}

    def run(name: str) -> float:
        model, objective, optimizer = setups[name]
        start = time.perf_counter()
        train_one_epoch(model, objective, loader, optimizer, device=device, progress=False)
        return n / (time.perf_counter() - start)

    for name in SETUPS:  # warm-up: allocator, oneDNN primitive caches, memory bank filling
        run(name)
    rates: dict[str, list[float]] = {name: [] for name in SETUPS}
    for _ in range(args.rounds):
        for name in SETUPS:
            rates[name].append(run(name))

    print(
        f"training images/s on CPU ({torch.get_num_threads()} threads): {args.backbone}, "
        f"{args.size}x{args.size}, batch {args.batch}, K={K}, {args.steps} steps x "
        f"{args.rounds} rounds (median)"
    )
    base = statistics.median(rates["gap+bce"])
    print(f"{'setup':18s} {'img/s':>8s} {'time vs gap+bce':>16s} {'overhead':>9s}")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:18s} {rate:8.1f} {base / rate:15.3f}x {100 * (base / rate - 1):8.1f}%")
    overhead = base / statistics.median(rates["attn+asl+disc-A"]) - 1
    verdict = "meets" if overhead <= 0.15 else "misses"
    print(
        f"class attention + variant A: {100 * overhead:.1f}% overhead ({verdict} the <= 15% target)"
    )


if __name__ == "__main__":
    main()
