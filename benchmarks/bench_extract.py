"""Peak memory of streaming class-embedding extraction vs its output and the dense (N, K, D).

``mlrkit.explore.embeddings.stream_pairs`` keeps one row per selected (image, class) pair and
writes it into a preallocated ``(M, D)`` float32 array, so its peak memory should be the output
plus one batch, never the dense ``(N, K, D)`` tensor of the split. Measured here at COCO-like
label statistics: K = 80 classes, about 2.9 present per image, D = 1,024 (the class-attention
head's shared projection), a small backbone (digitnet) on 64 px images made on the fly, N =
20,000 images. The peak is the kernel's high-water mark (``ru_maxrss``) minus the resident size
before extraction, in a fresh process.

Usage:
    python benchmarks/bench_extract.py [--images 20000] [--dim 1024] [--batch 128]

Target: the peak grows with the output, not with N x K x D: peak increase = output + a working
set of a few batches, far below the dense size.

Measured on the 2-core CPU machine (N = 20,000, D = 1,024, batch 128): output 226 MiB, dense
6,250 MiB, peak increase 566 MiB (2.5 x output, 0.09 x dense). Most of the excess is glibc's heap
keeping freed batch activations (its dynamic mmap threshold); with
``MALLOC_MMAP_THRESHOLD_=65536`` the same run peaks at 285 MiB (1.26 x output, batch 32).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import psutil
import torch
from torch.utils.data import DataLoader, Dataset

K, PRESENT_PER_IMAGE, SIZE = 80, 2.9, 64


class RandomImages(Dataset):
    """Images generated per item (so the input never sits in memory), fixed targets."""

    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.targets = (torch.rand(n, K, generator=g) < PRESENT_PER_IMAGE / K).float()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        return torch.randn(3, SIZE, SIZE, generator=g), self.targets[i]


def measure(images: int, dim: int, batch: int) -> dict[str, float]:
    from mlrkit.explore.embeddings import stream_pairs
    from mlrkit.losses import ProjectionMLP
    from mlrkit.models import build_model

    torch.manual_seed(0)
    model = build_model("digitnet", head="class_attention", num_classes=K, embed_dim=dim).eval()
    projection = ProjectionMLP(dim, dim).eval()
    data = RandomImages(images)
    loader = DataLoader(data, batch_size=batch)
    selected = data.targets == 1
    baseline = psutil.Process().memory_info().rss
    start = time.perf_counter()
    vectors, _ = stream_pairs(model, loader, selected, projection)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {
        "rows": float(len(vectors)),
        "output_mib": vectors.nbytes / 2**20,
        "peak_mib": (peak - baseline) / 2**20,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.images, args.dim, args.batch)))
        return
    command = [sys.executable, __file__, "--measure", *sys.argv[1:]]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    dense_mib = args.images * K * args.dim * 4 / 2**20
    print(f"N={args.images} images, K={K}, D={args.dim}, batch {args.batch}")
    print(f"  rows kept (present pairs)   {result['rows']:>12,.0f}")
    print(f"  output (M x D float32)      {result['output_mib']:>10.1f} MiB")
    print(f"  dense (N x K x D float32)   {dense_mib:>10.1f} MiB")
    print(f"  peak RSS increase           {result['peak_mib']:>10.1f} MiB")
    print(f"  peak / output               {result['peak_mib'] / result['output_mib']:>10.2f} x")
    print(f"  peak / dense                {result['peak_mib'] / dense_mib:>10.3f} x")
    print(f"  time                        {result['seconds']:>10.1f} s")


if __name__ == "__main__":
    main()
