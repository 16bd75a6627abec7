"""Notebook 00, ``python -m effv2nb train-tiny`` and ``demo``: the bundled offline dataset.

The offline dataset: scikit-learn's 1,797 real 8x8 handwritten digits, upscaled to RGB.

Deterministic split (seed 0): 400 validation, 300 calibration, the rest (1,097) training.
Validation and calibration are exported as image folders ``data/digits/{val,calib}/<label>/*.png``
so the same folder-dataset code serves digits and ImageNet.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from effv2nb.core import atomic
from effv2nb.core.settings import DIGITS_DIR
from effv2nb.model.tiny import TINY_SIZE

SPLIT_SEED = 0
N_VAL = 400
N_CALIB = 300
LABELS = [str(i) for i in range(10)]


@dataclass(frozen=True)
class Split:
    indices: np.ndarray   # indices into sklearn's digits
    images: np.ndarray    # uint8 (N, 8, 8), 0..16 ink scale
    targets: np.ndarray   # int64 (N,)


def render(digit8x8: np.ndarray, size: int = TINY_SIZE) -> Image.Image:
    """An 8x8 digit (0..16 ink) as a ``size``x``size`` RGB image: dark ink on white paper."""
    paper = 255 - np.round(np.asarray(digit8x8, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)
    small = Image.fromarray(paper, "L")
    return small.resize((size, size), Image.Resampling.BILINEAR).convert("RGB")


def splits() -> dict:
    """``{'train', 'calib', 'val'}`` -> ``Split``, the same on every machine."""
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(d.target))
    parts = {"val": order[:N_VAL], "calib": order[N_VAL:N_VAL + N_CALIB], "train": order[N_VAL + N_CALIB:]}
    return {k: Split(np.sort(v), d.images[np.sort(v)].astype(np.uint8), d.target[np.sort(v)].astype(np.int64))
            for k, v in parts.items()}


def export_folders(root=DIGITS_DIR, size: int = TINY_SIZE) -> Path:
    """Write ``root/{calib,val}/<label>/digit_<index>.png`` and ``root/labels.txt``."""
    root = Path(root)
    for name in ("calib", "val"):
        s = splits()[name]
        for idx, img, t in zip(s.indices, s.images, s.targets):
            target = root / name / LABELS[t] / f"digit_{idx:04d}.png"
            with atomic.atomic_path(target) as tmp:
                render(img, size).save(tmp, format="PNG")
    atomic.write_text(root / "labels.txt", "\n".join(LABELS) + "\n")
    return root
