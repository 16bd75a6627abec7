"""Notebooks 02-06 on an ImageNet model without its weights (the tests' rw_t path): random but seeded weights.

``save_seeded(name, path, seed, size)`` builds ``name`` with a fixed seed, starts every residual branch
small (the last BatchNorm weight of each block with a skip × ``RESIDUAL_SCALE``, as "zero-init-last"
training recipes do), re-estimates its BatchNorm statistics on noise at ``size``
(``condition_random_model``) and writes a ``.safetensors`` file marked as random in its metadata. ``effv2nb.model.models.load``
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

# Without it, a random rw_t conditioned on noise blows photos up to logits of ~1e4 and two correct
# runtimes (PyTorch, ONNX Runtime) disagree on half the top-1s; at 0.1 they stay near 1e1 and agree.
RESIDUAL_SCALE = 0.1


def shrink_residual_branches(model, scale: float = RESIDUAL_SCALE) -> int:
    """Multiply the last BatchNorm weight of every block that adds its input back by ``scale``; returns how many."""
    n = 0
    for block in model.modules():
        if getattr(block, "has_skip", False):
            bns = [m for m in block.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
            if bns and bns[-1].weight is not None:
                with torch.no_grad():
                    bns[-1].weight.mul_(scale)
                n += 1
    return n


def save_seeded(name: str, path, seed: int = 0, size: int | None = None) -> Path:
    """Write seeded random weights for ``name`` to ``path`` (``.safetensors``); returns the path."""
    from safetensors.torch import save_file

    path = Path(path)
    model = models.load(name, weights="random", seed=seed)
    shrink_residual_branches(model)
    condition_random_model(model, size, seed=seed)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {models.RANDOM_MARK_KEY: "random", "seed": str(seed), "model": name}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path
