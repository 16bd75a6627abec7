"""Train ``tiny`` on the digits: ``python -m effv2nb train-tiny``.

Deterministic on CPU (fixed seeds, deterministic algorithms, fixed thread count), so
retraining with the same seed reproduces the bundled weights' validation top-1.

Writes the digit image folders, the weights (``.safetensors``) and their checksum
(``<weights>.sha256``). The weights and the checksum are replaced together or not at all; both
output folders are checked to be writable before training starts.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from effv2nb.core import atomic
from effv2nb.data import digits
from effv2nb.model.tiny import TINY_PRETRAINED_CFG, TINY_SIZE, build_tiny

DEFAULTS = dict(epochs=30, batch=64, lr=3e-3, weight_decay=0.02, seed=0, size=TINY_SIZE)


def to_tensor(images8x8: np.ndarray, size: int = TINY_SIZE) -> torch.Tensor:
    """Render 8x8 digits the way the exported PNGs look, normalised like inference."""
    arr = np.stack([np.asarray(digits.render(im, size), dtype=np.float32) / 255.0 for im in images8x8])
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
    mean = torch.tensor(TINY_PRETRAINED_CFG["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(TINY_PRETRAINED_CFG["std"]).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(x: torch.Tensor, gen: torch.Generator, size_scale=None, strength: float = 1.0) -> torch.Tensor:
    """Random shift (up to 12 %), scale (0.85-1.15) and rotation (up to 10 degrees), each scaled by
    ``strength`` (the magnitude knob of progressive learning); white paper fills the border."""
    n = x.shape[0]
    ang = (torch.rand(n, generator=gen) - 0.5) * math.radians(20) * strength
    scale = 0.85 + 0.3 * torch.rand(n, generator=gen)
    if strength != 1.0:
        scale = 1.0 + (scale - 1.0) * strength
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.24 * strength
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    size = x.shape[-2:] if size_scale is None else (size_scale, size_scale)
    grid = F.affine_grid(theta, (n, 3, *size), align_corners=False)
    white = x.amax(dim=(0, 2, 3)).view(1, 3, 1, 1)  # normalised value of paper white
    return F.grid_sample(x - white, grid, align_corners=False, padding_mode="zeros") + white


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch: int = 200, wrong: bool = False) -> tuple:
    """(top-1 %, top-5 %) of ``model`` on ``x``; with ``wrong=True`` also the indices it gets wrong (top-1)."""
    model.eval()
    from effv2nb.core.metrics import topk_rates

    logits = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
    rates = topk_rates(logits.numpy(), y.numpy())
    if not wrong:
        return rates
    return (*rates, torch.nonzero(logits.argmax(1) != y).flatten().tolist())


def train_tiny(epochs=DEFAULTS["epochs"], batch=DEFAULTS["batch"], lr=DEFAULTS["lr"],
               weight_decay=DEFAULTS["weight_decay"], seed=DEFAULTS["seed"], size_schedule=None,
               reg_schedule=None, progress=True):
    """Train from scratch; returns ``(model, history)``: one entry per epoch, then the result
    (``val_top1``, ``val_top5``, training ``seconds``, ``n_val`` and ``val_wrong``: the validation
    indices it gets wrong, so that two runs can be compared image by image).

    ``size_schedule``: optional function ``epoch -> image size`` (progressive learning);
    by default every epoch trains at the native size.
    ``reg_schedule``: optional function ``epoch -> {"dropout": p, "augment": strength}`` (the
    regularisation half of progressive learning); by default dropout 0.1 and strength 1.
    """
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(seed)
    sp = digits.splits()
    xtr, ytr = to_tensor(sp["train"].images), torch.from_numpy(sp["train"].targets)
    xva, yva = to_tensor(sp["val"].images), torch.from_numpy(sp["val"].targets)
    model = build_tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(xtr) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    history = []
    t0 = time.perf_counter()
    for epoch in tqdm(range(epochs), desc="train tiny", disable=not progress):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        size = size_schedule(epoch) if size_schedule else None
        reg = reg_schedule(epoch) if reg_schedule else {}
        model.drop_rate = float(reg.get("dropout", model.drop_rate))
        strength = float(reg.get("augment", 1.0))
        total = 0.0
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            xb = augment(xtr[idx], gen, size, strength)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        history.append({"epoch": epoch, "loss": total / len(xtr), "size": size or TINY_SIZE,
                        "dropout": model.drop_rate, "augment": strength})
    seconds = time.perf_counter() - t0
    top1, top5, wrong = evaluate(model, xva, yva, wrong=True)
    history.append({"val_top1": top1, "val_top5": top5, "seconds": seconds, "n_val": len(yva), "val_wrong": wrong})
    model.eval()
    return model, history


def save_weights(model, path, meta: dict) -> str:
    """Save as ``.safetensors`` plus ``<path>.sha256``, both replaced together; return the digest."""
    from safetensors.torch import save

    path = Path(path)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={k: json.dumps(v) for k, v in meta.items()})
    digest = hashlib.sha256(data).hexdigest()
    atomic.write_many({path: data, path.with_name(path.name + ".sha256"): f"{digest}  {path.name}\n".encode()})
    return digest
