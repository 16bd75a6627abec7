"""Notebook 06's pictures, drawn from the run's results (nothing typed in).

``speed_vs_sqnr``: speed against fp32 against exact logit SQNR, one point per recipe (``curves.exclusion_costs``).
``time_vs_flop_share``: each op type's share of the FLOPs (``graph_flops``) against its share of ONNX
Runtime's time (``timing.op_time_profile``), next to the int8 model's time by op type.
``throughput_and_latency``: images/s against batch size, and the batch-1 latency spread.
Each returns its figure; the notebook shows it with ``plt.show()``.
"""
from __future__ import annotations

import numpy as np

PRECISION_COLORS = {"fp32": "black"}
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">"]


def speed_vs_sqnr(rows, title: str = ""):
    """Speed against fp32 (batch 1, this CPU, the same interleaved rounds; whiskers: the slowest and fastest
    round) against exact logit SQNR vs fp32 (dB), one labelled point per row.

    fp32 is the reference (speed 1, SQNR infinite): a dashed line. Rows: ``exclusion_costs``'s.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.2))
    ref = [r for r in rows if not np.isfinite(r["sqnr_db"])]
    pts = [r for r in rows if np.isfinite(r["sqnr_db"])]
    for r in ref:
        ax.axhline(1.0, color=PRECISION_COLORS.get(r["precision"], "gray"), ls="--", lw=1)
        ax.annotate(f"{r['layout']} (reference: speed 1, SQNR infinite)", (0.99, 1.0), ha="right",
                    xycoords=("axes fraction", "data"), xytext=(0, -11), textcoords="offset points", fontsize=8)
    colors = plt.get_cmap("tab10").colors
    for i, r in enumerate(pts):
        y = r["speedup_vs_fp32"]
        err = [[y - r.get("speedup_min", y)], [r.get("speedup_max", y) - y]]
        ax.errorbar(r["sqnr_db"], y, yerr=err, fmt=MARKERS[i % len(MARKERS)], color=colors[i % len(colors)], ms=8,
                    alpha=0.85, capsize=3, label=f"{r['layout']} ({r['precision']})")
    xs = [r["sqnr_db"] for r in pts] or [0.0]
    pad = max(1.0, 0.06 * (max(xs) - min(xs)))
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ys = [r.get("speedup_max", r["speedup_vs_fp32"]) for r in rows] + [1.0]
    ax.set_ylim(0, max(ys) * 1.18)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="recipe", title_fontsize=8)
    ax.set_xlabel("exact logit SQNR against fp32 (dB; higher = closer to fp32)")
    ax.set_ylabel("speed against fp32 (x, batch 1;\nmedian over rounds, whiskers: slowest-fastest)")
    ax.set_title(title or "speed against accuracy, recipe by recipe")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def time_vs_flop_share(share_rows, int8_ms: dict | None = None, top: int = 10, title: str = ""):
    """Left: FLOP share and time share (%) per op type (``graph_flops.shares``); right: ``int8_ms``
    (ms per batch-1 run by op type of the int8 model), when given."""
    import matplotlib.pyplot as plt

    ncols = 2 if int8_ms else 1
    fig, axes = plt.subplots(1, ncols, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]} if int8_ms else None)
    ax = axes[0] if ncols == 2 else axes
    rows = list(share_rows)[:top][::-1]
    ys = np.arange(len(rows))
    ax.barh(ys + 0.2, [r[1] for r in rows], 0.4, color="tab:gray", label="share of FLOPs")
    ax.barh(ys - 0.2, [r[2] for r in rows], 0.4, color="tab:orange", label="share of ORT time")
    ax.set_yticks(ys, [r[0] for r in rows], fontsize=8)
    ax.set_xlabel("% of the fp32 model's total")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "fp32: time share against FLOP share by op type", fontsize=10)
    if int8_ms:
        ax2 = axes[1]
        items = list(int8_ms.items())[:8][::-1]
        ax2.barh([o for o, _ in items], [ms for _, ms in items], color="tab:blue")
        ax2.tick_params(axis="y", labelsize=8)
        ax2.set_xlabel("ms per batch-1 run")
        ax2.set_title("int8 (speed-aware recipe): time by op type", fontsize=10)
    fig.tight_layout()
    return fig


def throughput_and_latency(curves: dict, batches, rows, title: str = ""):
    """Left: images/s against batch (one instance, ``curves.throughput_vs_batch``: a measurement of its own)
    per variant, with the table of record's points (``rows`` of ``compare_variants``, interleaved) as black
    crosses at the batches both have; the axis starts at 0. Right: batch-1 latency spread per row."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = plt.get_cmap("tab10").colors
    top = 0.0
    for i, (k, ys) in enumerate(curves.items()):
        ax1.plot(batches, ys, marker="o", color=colors[i % len(colors)], label=k)
        top = max(top, max(ys))
    record = [r for r in rows if r["name"] in curves and r["batch"] in batches]
    for j, r in enumerate(record):
        ax1.plot(r["batch"], r["images_per_s"], "x", color="black", ms=8, mew=2,
                 label="table of record (interleaved)" if j == 0 else None)
        top = max(top, r["images_per_s"])
    ax1.set_ylim(0, top * 1.15)
    ax1.set_xlabel("batch")
    ax1.set_ylabel("images / s")
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(list(batches), [str(b) for b in batches])
    ax1.legend(fontsize=7)
    ax1.set_title(title or "throughput vs batch (one instance, a separate measurement)", fontsize=10)
    b1 = [r for r in rows if r["batch"] == 1]
    ax2.boxplot([[t * 1e3 for t in r["samples"]] for r in b1], tick_labels=[r["name"] for r in b1])
    ax2.set_ylabel("latency per batch-1 call (ms, log scale)")
    ax2.set_yscale("log")
    ax2.tick_params(axis="x", rotation=30, labelsize=8)
    ax2.set_title("latency distribution, batch 1 (table of record)", fontsize=10)
    fig.tight_layout()
    return fig
