"""Notebook 01, ``python -m effv2nb complexity``: counts (docs/vendor-files.md, section "FLOPs convention").

Parameters, multiply-adds and FLOPs, counted with ``torch.utils.flop_counter`` (no extra dependency).

``python -m effv2nb complexity --model NAME [--size N]`` prints one line::

    params_M: <a> gmacs: <b> flops_G: <c> vendor_flops_G: <d>

- ``gmacs``: multiply-accumulates of convolutions and the classifier (what torch's counter sees;
  BatchNorm, activations, SE averaging/gating and residual adds are not counted — they are
  elementwise and below 0.2 % of the total here);
- ``flops_G = 2 x gmacs`` (one multiply + one add);
- ``vendor_flops_G = gmacs x 2 / 0.9``: this suite's own fit to the FLOPs column of the vendor's table
  (the vendor's page gives no factor and names no counter; the fit is within 0.002 % of the printed
  figures for rw_s and rw_m, at most one unit in their last digit, and 0.14 % low for rw_t;
  ``docs/vendor-files.md``, section "FLOPs convention").

``param_breakdown`` splits parameters by kind; ``vendor_params`` is what the vendor's counter saw:
everything except BatchNorm's affine weight and bias (timm fuses BN and activation into
``BatchNormAct2d``, a module type a per-module counter does not know, so it is skipped).
"""
from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

VENDOR_FACTOR = 2 / 0.9   # the suite's fit to the vendor's FLOPs column (multiply-adds x 2 / 0.9), not a vendor-given factor

# The vendor's table (``docs/vendor-files.md``, section "FLOPs convention"): model -> (input size, FLOPs G, params M)
VENDOR_TABLE = {
    "efficientnetv2_rw_t": (288, 7.032, 13.556),
    "efficientnetv2_rw_s": (384, 19.201, 23.780),
    "efficientnetv2_rw_m": (416, 47.406, 52.929),
}


@torch.no_grad()
def count(model: nn.Module, size: int, batch: int = 1) -> dict:
    """Count one forward pass at ``size`` x ``size``; returns params, macs, flops, vendor_flops and the
    per-module FLOP dict of the counter (keys like ``EfficientNet.blocks.3``)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            model(torch.zeros(batch, 3, size, size))
    finally:
        model.train(was_training)
    flops = counter.get_total_flops() / batch
    per_module = {k: sum(v.values()) / batch for k, v in counter.get_flop_counts().items()}
    params = sum(p.numel() for p in model.parameters())
    return dict(params=params, macs=flops / 2, flops=flops, vendor_flops=flops / 2 * VENDOR_FACTOR,
                per_module=per_module)


def line(result: dict) -> str:
    """The CLI's one-line summary."""
    return (f"params_M: {result['params'] / 1e6:.3f} gmacs: {result['macs'] / 1e9:.3f} "
            f"flops_G: {result['flops'] / 1e9:.3f} vendor_flops_G: {result['vendor_flops'] / 1e9:.3f}")


def param_breakdown(model: nn.Module) -> dict:
    """Parameter counts by kind: conv, se_conv (weights + biases), bn (affine), classifier, other."""
    out = defaultdict(int)
    for name, mod in model.named_modules():
        n = sum(p.numel() for p in mod.parameters(recurse=False))
        if not n:
            continue
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            out["bn"] += n
        elif isinstance(mod, nn.Conv2d):
            out["se_conv" if ".se." in f".{name}." else "conv"] += n
        elif isinstance(mod, nn.Linear):
            out["classifier"] += n
        else:
            out["other"] += n
    return dict(out)


def vendor_params(model: nn.Module) -> int:
    """Parameters without BatchNorm's affine weight/bias: what the vendor's counter reported."""
    b = param_breakdown(model)
    return sum(b.values()) - b.get("bn", 0)


def stage_of(name: str) -> str:
    """'stem', 'stage N' (1-based, as in ``arch.stage_table``) or 'head' for a module name."""
    parts = name.split(".")
    if "blocks" in parts:
        i = parts.index("blocks")
        if i + 1 < len(parts):
            return f"stage {int(parts[i + 1]) + 1}"
    if any(p in ("conv_stem", "bn1") for p in parts) and "blocks" not in parts:
        return "stem"
    return "head"


def stage_breakdown(model: nn.Module, size: int) -> list:
    """Per stage: block type, parameters and MACs, and their shares of the total."""
    from effv2nb.model.blocks import block_kind

    res = count(model, size)
    rows = {"stem": dict(stage="stem", kind="Conv3x3", params=0, macs=0.0)}
    for i, stage in enumerate(model.blocks):
        kinds = sorted({block_kind(b) for b in stage})
        rows[f"stage {i + 1}"] = dict(stage=f"stage {i + 1}", kind="/".join(kinds), params=0, macs=0.0)
    rows["head"] = dict(stage="head", kind="Conv1x1+FC", params=0, macs=0.0)
    for name, p in model.named_parameters():
        rows[stage_of(name)]["params"] += p.numel()
    root = type(model).__name__
    for key, flops in res["per_module"].items():
        parts = key.split(".")
        # leaf-level entries only: root.conv_stem, root.blocks.I (a stage), root.conv_head, root.classifier
        if len(parts) == 2 and parts[0] == root and parts[1] in ("conv_stem", "conv_head", "classifier"):
            rows["stem" if parts[1] == "conv_stem" else "head"]["macs"] += flops / 2
        elif len(parts) == 3 and parts[0] == root and parts[1] == "blocks":
            rows[f"stage {int(parts[2]) + 1}"]["macs"] += flops / 2
    total_p, total_m = res["params"], res["macs"]
    out = list(rows.values())
    for r in out:
        r["param_share"] = r["params"] / total_p
        r["mac_share"] = r["macs"] / total_m
    return out
