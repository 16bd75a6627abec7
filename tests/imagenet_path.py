"""The ImageNet models' path for tests: a small synset-layout folder and seeded random rw_t weights.

Users with ImageNet weights and a validation folder run notebooks 02-06 with
``EFFV2NB_MODEL=efficientnetv2_rw_t EFFV2NB_WEIGHTS=... EFFV2NB_VAL_DIR=DIR/<synset>/<image>.JPEG``.
``imagenet_env`` makes the same inputs offline: JPEG photos-to-be (seeded gradients and noise, a
different look per class) under real ImageNet synset folders, and a ``.safetensors`` of seeded
random weights (``effv2nb.export.random_weights``: loads as a user's file, marked untrained).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from effv2nb.data.labels import imagenet
from effv2nb.export.random_weights import save_seeded

MODEL = "efficientnetv2_rw_t"
CI_SIZE = 128          # rw_t at 128 px: the whole path fits CI on 2 cores


def synset_folder(root, classes: int = 6, per_class: int = 5, size=(200, 160), seed: int = 0) -> Path:
    """``root/<synset>/<synset>_<i>.JPEG``: ``classes`` real synsets, ``per_class`` seeded JPEGs each."""
    root = Path(root)
    labels = imagenet()
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    for c in range(classes):
        synset = labels.synsets[c * (1000 // classes)]
        folder = root / synset
        folder.mkdir(parents=True, exist_ok=True)
        tint = rng.uniform(0, 1, 3)
        for i in range(per_class):
            base = np.stack([np.sin(6 * (xx * tint[k] + yy * (1 - tint[k])) + i) for k in range(3)], -1)
            img = 127.5 * (1 + 0.8 * base) + rng.normal(0, 20, (h, w, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{synset}_{i:02d}.JPEG", quality=90)
    return root


def imagenet_env(root, size: int = CI_SIZE) -> dict:
    """Environment variables for the notebooks' ImageNet path on ``root`` (made here)."""
    root = Path(root)
    val = synset_folder(root / "val")
    weights = save_seeded(MODEL, root / f"{MODEL}_seeded.safetensors", seed=0, size=size)
    return {"EFFV2NB_MODEL": MODEL, "EFFV2NB_WEIGHTS": str(weights), "EFFV2NB_VAL_DIR": str(val),
            "EFFV2NB_SIZE": str(size)}
