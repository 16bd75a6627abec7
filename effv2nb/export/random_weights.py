"""Notebooks 02-06 on an ImageNet model without its weights (the tests' rw_t path): random but seeded weights.

``save_seeded(name, path, seed, size)`` builds ``name`` with a fixed seed, re-estimates its BatchNorm
statistics on noise at ``size`` (``condition_random_model``: random BatchNorm leaves logits at ~1e3)
and writes a ``.safetensors`` file marked as random in its metadata. ``effv2nb.model.models.load``
reads it like any weights file (``EFFV2NB_WEIGHTS=FILE``), so every notebook and command takes the
same code path as with real weights, while ``info(model).trained`` stays False: claims that need
trained weights are not asserted on it.
"""
from __future__ import annotations

from pathlib import Path

import torch

from effv2nb.core import atomic
from effv2nb.export.onnx_export import condition_random_model
from effv2nb.model import models


def save_seeded(name: str, path, seed: int = 0, size: int | None = None) -> Path:
    """Write seeded random weights for ``name`` to ``path`` (``.safetensors``); returns the path."""
    from safetensors.torch import save_file

    path = Path(path)
    torch.manual_seed(seed)
    model = models.load(name, weights="random")
    condition_random_model(model, size, seed=seed)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {models.RANDOM_MARK_KEY: "random", "seed": str(seed), "model": name}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path
