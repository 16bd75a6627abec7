"""Notebook 01 (architecture): pictures drawn from the code, so they cannot drift from it.

- ``block_steps(block, shape)``: the forward pass of a block of ``effv2nb.model.blocks`` as a list of
  steps. The block is traced with ``torch.fx`` (``ConvBN`` and ``SqueezeExcite`` kept whole, identities
  dropped) and run once on zeros of ``shape``; each step's label (kernel, stride, groups, channels,
  activation) is read from its module, its output shape from that run, and ``inputs`` says which
  earlier steps feed it — an input that skips steps is the residual, or SE's scaling of its own input.
- ``draw_block(block, shape, ax)``: those steps as boxes, top to bottom, skips as arrows on the side.
- ``draw_blocks(items)``: several blocks side by side, on one scale.
- ``stage_layout(tables)``: width (channels) against depth (layers) per stage, from
  ``arch.stage_table`` rows, Fused-MBConv and MBConv stages coloured apart.
- ``progressive_bars(runs)``: fixed vs progressive training (``paper.progressive_experiment`` rows):
  time (bars from 0) and top-1 (on an axis marked as cut), mean over seeds with the min-max range and
  each seed's value when there are several, and the test set's binomial noise.
"""
from __future__ import annotations

import math
import operator
import statistics

import matplotlib.pyplot as plt
import torch
import torch.fx as fx
import torch.nn as nn
from matplotlib.patches import FancyBboxPatch, Patch
from torch.fx.passes.shape_prop import ShapeProp

from effv2nb.core.errors import Effv2nbError
from effv2nb.model.blocks import ConvBN, SqueezeExcite

# step kind -> face colour
COLORS = {
    "input": "#e6e6e6",
    "conv": "#f4a259",        # regular kxk conv (Fused-MBConv's expansion)
    "expand": "#a6cee3",      # 1x1 conv + SiLU (MBConv's expansion)
    "depthwise": "#1f78b4",   # depthwise kxk
    "project": "#b2df8a",     # 1x1 conv, linear (no activation)
    "se": "#cab2d6",          # squeeze-excitation and the convs inside it
    "op": "#ffffff",          # elementwise: add, multiply, activation, average
}
STAGE_COLORS = {"Fused-MBConv": COLORS["conv"], "MBConv": COLORS["depthwise"], "mixed": "#bdbdbd"}
_OPS = {operator.add: "+", operator.mul: "×", torch.add: "+", torch.mul: "×"}


class _Tracer(fx.Tracer):
    """Keep the blocks' own ``ConvBN`` and ``SqueezeExcite`` as single steps."""

    def is_leaf_module(self, m, qualname):
        return isinstance(m, (ConvBN, SqueezeExcite)) or super().is_leaf_module(m, qualname)


def _conv_step(conv: nn.Conv2d, act: bool | None):
    """(kind, label) of a conv; ``act`` None: a bare conv (inside SE), else with BN and SiLU or linear."""
    k, s = conv.kernel_size[0], conv.stride[0]
    cin, cout = conv.in_channels, conv.out_channels
    depthwise = conv.groups == cin == cout and cin > 1
    name = f"{k}×{k} " + ("depthwise conv" if depthwise else "conv") + (f", stride {s}" if s > 1 else "")
    if act is None:
        return "se", f"{name}, {cin}→{cout}" + (" + bias" if conv.bias is not None else "")
    kind = "depthwise" if depthwise else "conv" if k > 1 else "expand" if act else "project"
    return kind, f"{name}\n{cin}→{cout} ch, BN" + (" + SiLU" if act else ", linear")


def _module_step(mod: nn.Module):
    if isinstance(mod, ConvBN):
        return _conv_step(mod.conv, not isinstance(mod.act, nn.Identity))
    if isinstance(mod, SqueezeExcite):
        c, r = mod.reduce.in_channels, mod.reduce.out_channels
        return "se", f"squeeze-excitation\n{c}→{r}→{c}, gate × input"
    if isinstance(mod, nn.Conv2d):
        return _conv_step(mod, None)
    if isinstance(mod, (nn.SiLU, nn.Sigmoid, nn.ReLU)):
        return "op", type(mod).__name__
    raise Effv2nbError(f"block diagram: no drawing for module type {type(mod).__name__}")


def block_steps(block: nn.Module, shape) -> list:
    """The forward of ``block`` on an input of ``shape`` (N, C, H, W): a list of dicts
    ``name, kind, label, shape (C, H, W), inputs`` (indices of earlier steps; step 0 is the input)."""
    tracer = _Tracer()
    graph = tracer.trace(block)
    gm = fx.GraphModule(tracer.root, graph)
    with torch.no_grad():
        ShapeProp(gm).propagate(torch.zeros(tuple(shape)))
    modules = dict(gm.named_modules())
    steps, index = [], {}          # index: fx node -> step index (identities map to their input)
    for node in gm.graph.nodes:
        args = [a for a in node.args if isinstance(a, fx.Node)]
        if node.op == "output":
            break
        if node.op == "call_module" and isinstance(modules[node.target], nn.Identity):
            index[node] = index[args[0]]
            continue
        if node.op == "placeholder":
            kind, label = "input", "input"
        elif node.op == "call_module":
            kind, label = _module_step(modules[node.target])
        elif node.op == "call_function" and node.target in _OPS:
            kind, label = "op", _OPS[node.target]
        elif node.op == "call_function" and node.target in (torch.sigmoid, torch.nn.functional.silu):
            kind, label = "op", node.target.__name__
        elif node.op == "call_method" and node.target == "mean":
            kind, label = "op", "global average (H, W)"
        else:
            raise Effv2nbError(f"block diagram: no drawing for {node.op} {node.target}")
        index[node] = len(steps)
        steps.append(dict(name=node.name, kind=kind, label=label,
                          shape=tuple(node.meta["tensor_meta"].shape[1:]), inputs=[index[a] for a in args]))
    return steps


def _fmt_shape(shape) -> str:
    return "×".join(str(s) for s in shape)


def draw_block(block: nn.Module, shape, ax=None, title: str = "", rows: int | None = None):
    """Draw ``block_steps(block, shape)`` on ``ax``; ``rows`` fixes the vertical scale (for side-by-side
    panels). Returns the steps."""
    steps = block_steps(block, shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 0.9 * len(steps) + 0.6))
    rows = max(rows or 0, len(steps))
    cx, w, h = 0.47, 0.72, 0.62           # box centre x, width, height (one row = 1 unit)
    r_op = 0.22                           # half height of a "+" / "×" node
    for i, st in enumerate(steps):
        y = -i
        if st["label"] in ("+", "×"):
            ax.text(cx, y, st["label"], ha="center", va="center", fontsize=12, zorder=3,
                    bbox=dict(boxstyle="circle,pad=0.15", facecolor="white", edgecolor="black", lw=1.2))
        else:
            ax.add_patch(FancyBboxPatch((cx - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                        facecolor=COLORS[st["kind"]], edgecolor="black", lw=1, zorder=2))
            dark = st["kind"] == "depthwise"
            ax.text(cx, y, st["label"], ha="center", va="center", fontsize=7.5, zorder=3,
                    color="white" if dark else "black")
        ax.text(cx + w / 2 + 0.02, y - 0.5, _fmt_shape(st["shape"]), fontsize=6.5, color="dimgray",
                ha="left", va="center")
        for j, src in enumerate(st["inputs"]):
            top = y + (r_op if st["label"] in ("+", "×") else h / 2)
            if src == i - 1:
                ax.annotate("", xy=(cx, top), xytext=(cx, -src - h / 2),
                            arrowprops=dict(arrowstyle="-|>", color="black", lw=1, shrinkA=0, shrinkB=0))
            else:                          # a skip: out of the source's left side, down, into the node
                x_side = cx - w / 2 - 0.1 - 0.04 * j
                ax.plot([cx - w / 2, x_side, x_side], [-src, -src, y], color="firebrick", lw=1.4)
                ax.annotate("", xy=(cx - (0.07 if st["label"] in ("+", "×") else w / 2), y),
                            xytext=(x_side, y),
                            arrowprops=dict(arrowstyle="-|>", color="firebrick", lw=1.4, shrinkA=0, shrinkB=0))
    ax.set_xlim(-0.05, 1.0)
    ax.set_ylim(-rows + 0.4, 0.55)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return steps


def draw_blocks(items: dict, figsize=(11, 5.5)):
    """``{title: (block, shape)}`` -> one figure, one panel per block, all on the same vertical scale."""
    all_steps = {t: block_steps(b, s) for t, (b, s) in items.items()}
    rows = max(len(s) for s in all_steps.values())
    fig, axes = plt.subplots(1, len(items), figsize=figsize)
    axes = [axes] if len(items) == 1 else list(axes)
    for ax, (t, (b, s)) in zip(axes, items.items()):
        draw_block(b, s, ax, t, rows=rows)
    legend = [Patch(facecolor=COLORS[k], edgecolor="black", label=lab) for k, lab in (
        ("conv", "k×k conv + BN + SiLU"), ("expand", "1×1 conv + BN + SiLU"), ("depthwise", "depthwise k×k + BN + SiLU"),
        ("project", "1×1 conv + BN, linear"), ("se", "squeeze-excitation"))]
    legend.append(plt.Line2D([], [], color="firebrick", lw=1.4, label="input carried past the steps"))
    fig.legend(handles=legend, loc="lower center", ncol=3, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


# ----------------------------------------------------------------------------- stage layout


def stage_layout(tables: dict, figsize=(11, 6.5)):
    """``{name: arch.stage_table rows}`` -> one panel per model: each block stage a rectangle as wide as its
    number of layers and as tall as its output channels, coloured by block type; same axes for all."""
    names = list(tables)
    fig, axes = plt.subplots(len(names), 1, figsize=figsize, sharex=True, sharey=True)
    axes = [axes] if len(names) == 1 else list(axes)
    top = max(r["channels"] for rows in tables.values() for r in rows[1:-1])
    depth = max(sum(r["layers"] for r in rows[1:-1]) for rows in tables.values()) + 1
    for ax, name in zip(axes, names):
        rows = tables[name]
        x = 0
        for r in rows[1:-1]:
            kind = r["operator"] if r["operator"] in STAGE_COLORS else "mixed"    # e.g. "Fused-MBConv/MBConv"
            ax.add_patch(plt.Rectangle((x, 0), r["layers"], r["channels"], facecolor=STAGE_COLORS[kind],
                                       edgecolor="black", lw=0.8, alpha=0.85))
            se = f", SE {r['se']:g}" if r["se"] else ""
            if r["layers"] / depth < 0.06:      # narrow stage: a compact label that fits its width
                label = f"{r['channels']} ch\n× {r['layers']}\ne{r['expansion']:g} s{r['stride']}"
            else:
                label = f"{r['channels']} ch × {r['layers']}\ne{r['expansion']:g} k{r['kernel']} s{r['stride']}{se}"
            ax.text(x + r["layers"] / 2, r["channels"] + top * 0.03, label, ha="center", va="bottom", fontsize=6.5)
            ax.text(x + 0.15, top * 0.03, str(r["stage"]), fontsize=7, va="bottom",
                    color="white" if kind == "MBConv" else "black")
            x += r["layers"]
        stem, head = rows[0], rows[-1]
        ax.set_title(f"{name} @ {_input_size(rows)} px: stem {stem['channels']} ch, {x} blocks, "
                     f"head {head['channels']} ch", fontsize=9, loc="left")
        ax.set_ylabel("channels")
    axes[0].set_ylim(0, top * 1.45)
    axes[-1].set_xlim(0, depth)
    axes[-1].set_xlabel("depth: block number (each rectangle is one stage, as wide as its layers; "
                        "stage number in its corner)")
    seen = {r["operator"] if r["operator"] in STAGE_COLORS else "mixed" for rows in tables.values() for r in rows[1:-1]}
    handles = [Patch(facecolor=c, edgecolor="black", label=k) for k, c in STAGE_COLORS.items() if k in seen]
    handles.append(plt.Line2D([], [], color="none", label="labels: channels × layers,\ne expansion, k kernel, s stride"))
    axes[0].legend(handles=handles, loc="upper right", fontsize=7.5)
    fig.tight_layout()
    return fig


def _input_size(rows) -> int:
    """Input size implied by a stage table: the stem's stride times its feature-map side."""
    return int(rows[0]["feature"].split("x")[0]) * rows[0]["stride"]


# ----------------------------------------------------------------------------- progressive learning


def progressive_bars(runs: list, figsize=(11.5, 3.6)):
    """Two panels from ``paper.progressive_experiment`` rows, one column per schedule.

    Left, training time: a bar (mean over seeds) on an axis from 0. Right, validation top-1: the mean as
    a horizontal tick, on an axis cut below (marked as cut: no bars on it, so no bar length misleads).
    With several seeds, whiskers span the seeds (min-max) and each seed is a dot (spread sideways so
    equal values stay visible). Rows with ``n_val`` also get, on the top-1 panel, a grey band of
    mean +- 1.96 binomial standard errors of a top-1 measured on ``n_val`` images (the test set's own noise).
    """
    from effv2nb.model.paper import binomial_se

    schedules = list(dict.fromkeys(r["schedule"] for r in runs))
    colors = ["#8c8c8c", "#2c7fb8", "#f4a259", "#b2df8a"]
    n = len({r["seed"] for r in runs})
    fig, (t_ax, a_ax) = plt.subplots(1, 2, figsize=figsize)
    lows = []
    for i, name in enumerate(schedules):
        rows = [r for r in runs if r["schedule"] == name]
        color = colors[i % len(colors)]
        jitter = [i + 0.12 * (k - (len(rows) - 1) / 2) / max(1, len(rows) - 1) * 2 for k in range(len(rows))]
        for ax, key in ((t_ax, "seconds"), (a_ax, "val_top1")):
            vals = [r[key] for r in rows]
            mean = statistics.mean(vals)
            err = [[mean - min(vals)], [max(vals) - mean]] if len(vals) > 1 else None
            if ax is t_ax:
                ax.bar(i, mean, 0.6, color=color, edgecolor="black", yerr=err, capsize=6)
                ax.text(i, mean * 0.5, f"{mean:.1f} s", ha="center", va="center", fontsize=8.5,
                        color="white" if i % len(colors) == 1 else "black")
            else:
                if "n_val" in rows[0]:
                    half = 1.96 * binomial_se(mean, rows[0]["n_val"])
                    ax.bar(i, 2 * half, 0.5, bottom=mean - half, color="0.85", edgecolor="none", zorder=1,
                           label=f"mean \u00b1 1.96 binomial SE\n(noise of {rows[0]['n_val']} test images)" if i == 0 else None)
                    lows.append(mean - half)
                ax.plot([i - 0.25, i + 0.25], [mean, mean], color=color, lw=3, zorder=2,
                        label="mean over seeds" if i == 0 else None)
                if err:
                    ax.errorbar(i, mean, yerr=err, fmt="none", ecolor="black", capsize=8, lw=1.2, zorder=3,
                                label="min-max over seeds" if i == 0 else None)
                ax.text(i + 0.3, mean, f"{mean:.2f}" + (f"\n({min(vals):.2f}-{max(vals):.2f})" if err else ""),
                        va="center", fontsize=8)
                lows.append(min(vals))
            if len(vals) > 1:
                ax.plot(jitter, vals, "o", color="black", ms=3.5, zorder=4,
                        label="one seed" if (i == 0 and ax is a_ax) else None)
    for ax, unit in ((t_ax, "training time (s)"), (a_ax, "validation top-1 (%)")):
        ax.set_xticks(range(len(schedules)), schedules)
        ax.set_xlim(-0.6, len(schedules) - 0.1)
        ax.set_ylabel(unit)
    t_ax.set_ylim(0, None)
    lo = max(0.0, math.floor(min(lows)) - 1.0)
    a_ax.set_ylim(lo, 100.0)
    if lo > 0:   # the cut, marked: a break on the axis and a line saying where it starts
        kw = dict(transform=a_ax.transAxes, color="black", clip_on=False, lw=1)
        for dy in (0.0, 0.025):
            a_ax.plot([-0.025, 0.025], [dy - 0.01, dy + 0.01], **kw)
        a_ax.text(0.02, 0.03, f"axis cut: starts at {lo:g} %", transform=a_ax.transAxes, fontsize=7.5, color="0.3")
    a_ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    spread = "whiskers: min-max over seeds, dots: each seed" if n > 1 else "one seed: no spread"
    fig.suptitle(f"fixed vs progressive image size, tiny on the digits, {n} seed{'s' if n > 1 else ''} ({spread})", fontsize=9)
    fig.tight_layout()
    return fig
