"""Notebook 01 (architecture): stage tables.

Structure tables read from a model: one row per stage, as in the EfficientNetV2 paper's Table 4.

``stage_table(model, size)`` inspects the modules themselves (conv kernels, strides, channels,
squeeze-excitation widths) and measures feature-map sizes with one forward pass, so the table
cannot drift from the code. ``PAPER_V2_S`` is the paper's EfficientNetV2-S table for comparison,
``differences(table, PAPER_V2_S)`` lists where a model departs from it, and ``format_table``
prints either.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from effv2nb.model.blocks import block_kind

COLUMNS = ("stage", "operator", "expansion", "kernel", "stride", "channels", "layers", "se", "feature")

# EfficientNetV2-S, Table 4 of "EfficientNetV2: Smaller Models and Faster Training" (Tan & Le, 2021).
# Fused-MBConv1 in the paper has no 1x1 projection (the kxk conv is the whole block).
PAPER_V2_S = [
    dict(stage=0, operator="Conv3x3", expansion=None, kernel=3, stride=2, channels=24, layers=1, se=None),
    dict(stage=1, operator="Fused-MBConv", expansion=1, kernel=3, stride=1, channels=24, layers=2, se=None),
    dict(stage=2, operator="Fused-MBConv", expansion=4, kernel=3, stride=2, channels=48, layers=4, se=None),
    dict(stage=3, operator="Fused-MBConv", expansion=4, kernel=3, stride=2, channels=64, layers=4, se=None),
    dict(stage=4, operator="MBConv", expansion=4, kernel=3, stride=2, channels=128, layers=6, se=0.25),
    dict(stage=5, operator="MBConv", expansion=6, kernel=3, stride=1, channels=160, layers=9, se=0.25),
    dict(stage=6, operator="MBConv", expansion=6, kernel=3, stride=2, channels=256, layers=15, se=0.25),
    dict(stage=7, operator="Conv1x1 & Pooling & FC", expansion=None, kernel=1, stride=1, channels=1280,
         layers=1, se=None),
]


def _first_conv(block):
    for attr in ("conv_exp", "conv_dw", "conv", "fused", "depthwise"):
        m = getattr(block, attr, None)
        if m is not None:
            return m if isinstance(m, nn.Conv2d) else m.conv
    raise TypeError(type(block).__name__)


def _block_facts(block) -> dict:
    """Expansion, kernel, stride, output channels, SE ratio and projection of one block."""
    name = type(block).__name__
    if name == "InvertedResidual":
        cin, mid, out = block.conv_pw.in_channels, block.conv_pw.out_channels, block.conv_pwl.out_channels
        kconv, proj = block.conv_dw, True
    elif name == "DepthwiseSeparableConv":
        cin = mid = block.conv_dw.in_channels
        out, kconv, proj = block.conv_pw.out_channels, block.conv_dw, True
    elif name == "EdgeResidual":
        cin, mid, out = block.conv_exp.in_channels, block.conv_exp.out_channels, block.conv_pwl.out_channels
        kconv, proj = block.conv_exp, True
    elif name == "ConvBnAct":
        cin, mid = block.conv.in_channels, block.conv.out_channels
        out, kconv, proj = mid, block.conv, False
    else:  # effv2nb.model.blocks
        kconv = _first_conv(block)
        cin = kconv.in_channels
        mid = block.project.conv.in_channels if hasattr(block.project, "conv") else kconv.out_channels
        proj = hasattr(block.project, "conv")
        out = block.project.conv.out_channels if proj else kconv.out_channels
    se = getattr(block, "se", nn.Identity())
    se_ratio = None
    if not isinstance(se, nn.Identity):
        reduce = getattr(se, "conv_reduce", None) or se.reduce
        se_ratio = round(reduce.out_channels / cin, 3)   # EfficientNet sizes SE from the block input
    return dict(operator=block_kind(block), expansion=round(mid / cin, 2) if proj else 1, projection=proj,
                kernel=kconv.kernel_size[0], stride=kconv.stride[0], channels=out, se=se_ratio)


def feature_sizes(model: nn.Module, size: int) -> dict:
    """Output shape of stem, every stage and the head conv at input ``size`` (one forward, batch 1)."""
    shapes, hooks = {}, []

    def grab(key):
        return lambda mod, inp, out: shapes.__setitem__(key, tuple(out.shape[1:]))

    hooks.append(model.bn1.register_forward_hook(grab("stem")))
    for i, stage in enumerate(model.blocks):
        hooks.append(stage.register_forward_hook(grab(i)))
    hooks.append(model.bn2.register_forward_hook(grab("head")))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _conv_out(conv: nn.Conv2d, h: int) -> int:
    k, s, p, d = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
    return (h + 2 * p - d * (k - 1) - 1) // s + 1


def block_input_shapes(model: nn.Module, size: int) -> list:
    """``(block, (1, C, H, W))`` for every block at input ``size``, computed from the convs'
    kernel/stride/padding (no forward pass; for plain ``nn.Conv2d`` padding as in these models)."""
    h = _conv_out(model.conv_stem, size)
    c = model.conv_stem.out_channels
    out = []
    for stage in model.blocks:
        for block in stage:
            out.append((block, (1, c, h, h)))
            facts = _block_facts(block)
            conv = _first_conv(block) if not hasattr(block, "conv_dw") else block.conv_dw
            h, c = _conv_out(conv, h), facts["channels"]
    return out


def stage_table(model: nn.Module, size: int) -> list:
    """One dict per stage (stem, each block stage, head): see ``COLUMNS``; ``feature`` is 'HxW'.

    ``expansion`` and ``se`` are read from the stage's last block (its input already has the
    stage's width); kernel and stride from its first block (which carries the stride).
    """
    shapes = feature_sizes(model, size)
    fmt = lambda s: f"{s[1]}x{s[2]}"  # noqa: E731
    stem = model.conv_stem
    rows = [dict(stage=0, operator=f"Conv{stem.kernel_size[0]}x{stem.kernel_size[1]}", expansion=None,
                 kernel=stem.kernel_size[0], stride=stem.stride[0], channels=stem.out_channels, layers=1,
                 se=None, projection=False, feature=fmt(shapes["stem"]))]
    for i, stage in enumerate(model.blocks):
        first, last = _block_facts(stage[0]), _block_facts(stage[-1])
        kinds = {_block_facts(b)["operator"] for b in stage}
        rows.append(dict(stage=i + 1, operator="/".join(sorted(kinds)), expansion=last["expansion"],
                         kernel=first["kernel"], stride=first["stride"], channels=last["channels"],
                         layers=len(stage), se=last["se"], projection=last["projection"],
                         feature=fmt(shapes[i])))
    head = model.conv_head
    rows.append(dict(stage=len(model.blocks) + 1, operator="Conv1x1 & Pooling & FC", expansion=None,
                     kernel=head.kernel_size[0], stride=head.stride[0], channels=head.out_channels, layers=1,
                     se=None, projection=False, feature=fmt(shapes["head"])))
    return rows


def _op_label(row) -> str:
    op = row["operator"]
    if op in ("MBConv", "Fused-MBConv") and row.get("expansion") is not None:
        e = row["expansion"]
        op += f"{e:g}"
        if op.startswith("Fused-MBConv1") and row.get("projection"):
            op += "+proj"
    return op


def format_table(rows: list, title: str = "") -> str:
    """A fixed-width text table (operator labels like the paper's: MBConv6, Fused-MBConv4)."""
    head = ["stage", "operator", "k", "stride", "channels", "layers", "SE", "feature"]
    body = []
    for r in rows:
        body.append([str(r["stage"]), _op_label(r), f"{r['kernel']}x{r['kernel']}", str(r["stride"]),
                     str(r["channels"]), str(r["layers"]), "" if r.get("se") is None else f"{r['se']:g}",
                     r.get("feature", "")])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = ([title] if title else []) + [line(head), line(["-" * w for w in widths])] + [line(b) for b in body]
    return "\n".join(out)


def side_by_side(*texts: str, gap: int = 4) -> str:
    """Print formatted tables next to each other."""
    blocks = [t.splitlines() for t in texts]
    widths = [max(len(s) for s in b) for b in blocks]
    n = max(len(b) for b in blocks)
    return "\n".join((" " * gap).join((b[i] if i < len(b) else "").ljust(w) for b, w in zip(blocks, widths))
                     .rstrip() for i in range(n))


def differences(rows: list, reference: list = PAPER_V2_S) -> list:
    """Where ``rows`` (a ``stage_table``) departs from ``reference``, as readable strings.

    Stages are matched by position (stem, block stages, head); stage count differences are
    reported too. Feature-map sizes are not compared (they depend on the input size).
    """
    diffs = []
    if len(rows) != len(reference):
        diffs.append(f"{len(rows) - 2} block stages instead of {len(reference) - 2}")
    pairs = [(rows[0], reference[0])] + list(zip(rows[1:-1], reference[1:-1])) + [(rows[-1], reference[-1])]
    for r, p in pairs:
        s = r["stage"] if r["stage"] == p["stage"] else f"{r['stage']} (paper {p['stage']})"
        if _op_label(r) != _op_label(p):
            diffs.append(f"stage {s}: {_op_label(r)} instead of {_op_label(p)}")
        for key in ("kernel", "stride", "channels", "layers", "se"):
            if r.get(key) != p.get(key):
                diffs.append(f"stage {s}: {key} {r.get(key)} instead of {p.get(key)}")
    return diffs
