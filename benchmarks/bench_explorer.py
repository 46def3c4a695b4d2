"""Explorer responsiveness at 200,000 points: construction, widget, selection, recolouring.

Synthetic frame (80 classes, 4 pairs per image, 20 real 224 px JPEG files reused), given 2-D
coordinates (no UMAP). Measures the Python side only: sending the points to a browser adds time
that this script does not see (the browser test of the notebooks covers rendering).

Usage:
    python benchmarks/bench_explorer.py

Target: construction + widget + a 1,000-point selection well under a second.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mlrkit.explore.embeddings import ClassEmbeddings
from mlrkit.explore.explorer import Explorer

rng = np.random.default_rng(0)
M, K = 200_000, 80
tmp = Path(tempfile.mkdtemp())
paths = []
for i in range(20):
    p = tmp / f"{i}.jpg"
    Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(p)
    paths.append(str(p))
image = np.repeat(np.arange(M // 4), 4)
klass = rng.integers(0, K, M)
target = rng.choice([1, 0, -1], M, p=[0.5, 0.45, 0.05])
score = rng.random(M).astype(np.float32)
pred = score >= 0.5
correct = pd.array(pred == (target == 1), dtype="boolean")
correct[target == -1] = pd.NA
classes = tuple(f"c{k}" for k in range(K))
frame = pd.DataFrame(
    {
        "image": image,
        "path": [paths[i % 20] for i in image],
        "class": pd.Categorical.from_codes(klass, categories=list(classes)),
        "class_index": klass,
        "target": target,
        "score": score,
        "predicted": pred,
        "correct": correct,
    }
)
emb = ClassEmbeddings(frame, np.zeros((M, 2), np.float32), "features", classes, tmp / "x.pt", "val")
emb2 = ClassEmbeddings(
    frame, np.zeros((M, 2), np.float32), "embedding", classes, tmp / "x.pt", "val"
)
coords = rng.normal(size=(M, 2)).astype(np.float32)
for label, arg, xy in [("1 view", emb, coords), ("2 linked views", [emb, emb2], [coords, coords])]:
    t0 = time.perf_counter()
    ex = Explorer(arg, xy)
    t1 = time.perf_counter()
    ex.widget()
    t2 = time.perf_counter()
    ex.select(range(1000))
    t3 = time.perf_counter()
    ex.select(range(1000, 2000))
    t4 = time.perf_counter()
    ex.scatters[0].widget.selection = np.arange(M, dtype=np.uint32)
    t5 = time.perf_counter()
    ex.color("score")
    t6 = time.perf_counter()
    print(
        f"{label}: construct {t1 - t0:.3f}s widget {t2 - t1:.3f}s select(1000) {t3 - t2:.3f}s "
        f"select(other 1000) {t4 - t3:.3f}s frontend-select all {M} {t5 - t4:.3f}s "
        f"color {t6 - t5:.3f}s "
        f"total(construct+widget+select) {t3 - t0:.3f}s"
    )
