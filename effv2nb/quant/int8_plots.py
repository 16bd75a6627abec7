"""Pictures of the int8 study (notebook 05, ``int8-report``): the side-by-side report, the greedy fallback's steps,
per-layer SQNR two ways, and top-1 / top-5 measured here next to the published reference figures."""
from __future__ import annotations

import numpy as np


def plot_report(rows, ax=None, title: str = ""):
    """Exact and host logit SQNR per recipe (bars), images/s on a second axis (dots)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8))
    names = [r["recipe"] for r in rows]
    xs = np.arange(len(rows))
    ax.bar(xs - 0.2, [r["sqnr_db"] for r in rows], 0.4, color="tab:blue", label="exact (QDQ as written)")
    ax.bar(xs + 0.2, [r["host_sqnr_db"] for r in rows], 0.4, color="tab:orange", label="host (this CPU)")
    ax.set_xticks(xs, names)
    ax.set_ylabel("logit SQNR vs fp32 (dB)")
    finite = [v for r in rows for v in (r["sqnr_db"], r["host_sqnr_db"]) if np.isfinite(v)]
    ax.set_ylim(0, max(finite) * 1.3)
    ax2 = ax.twinx()
    ax2.plot(xs, [r["images_per_s"] for r in rows], "o", color="k", label="images/s (host)")
    ax2.set_ylabel("images/s")
    ax2.set_ylim(0, max(r["images_per_s"] for r in rows) * 1.25)
    ax.set_title(title or "int8 recipes on the test fold")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    return ax


def plot_steps(steps, target_db: float, ax=None, title: str = ""):
    """SQNR per greedy step (exact and host), with the target; x labels name the group kept in float."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.2))
    xs = [s["step"] for s in steps]
    ax.plot(xs, [s["sqnr_db"] for s in steps], "o-", label="exact")
    ax.plot(xs, [s["host_sqnr_db"] for s in steps], "s--", label="host")
    ax.axhline(target_db, color="tab:red", lw=1, ls=":", label=f"target {target_db:g} dB")
    labels = ["start"] + [s["kept_float"][-1] for s in steps[1:]]
    ax.set_xticks(xs, [f"+ {l}" if i else l for i, l in enumerate(labels)], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("logit SQNR (dB), selection fold")
    ax.set_title(title or "greedy float fallback: one group back to float per step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_layers_two_ways(exact, host, emulated=None, ax=None, title: str = ""):
    """Per-layer SQNR of one int8 model on the exact path and on host kernels (this CPU, and an
    emulated one without VNNI when given)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8))
    # exact is drawn wide and pale underneath, host narrow on top: where they agree both stay visible
    styles = ((exact, dict(ls="-", lw=5, alpha=0.35, color="tab:blue", marker=None), "exact (QDQ as written)"),
              (host, dict(ls="--", lw=1.2, color="tab:orange", marker=".", ms=4), "host: this CPU"),
              (emulated, dict(ls=":", lw=1.2, color="tab:green", marker=".", ms=4), "host: emulated AVX2, no VNNI"))
    for rows, style, label in styles:
        if rows:
            q = [r for r in rows if r.get("quantized", True) and np.isfinite(r["sqnr_db"])]
            ax.plot([r["depth"] for r in q], [r["sqnr_db"] for r in q], label=label, **style)
    ax.set_xlabel("node index along the network")
    ax.set_ylabel("output SQNR vs fp32 (dB)")
    ax.set_title(title or "the same mod.onnx, two ways")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def _topk_bars(ax, names, top1, top5, colors=None):
    xs = np.arange(len(names))
    b1 = ax.bar(xs - 0.2, top1, 0.4, color=colors or "tab:blue", label="top-1")
    b5 = ax.bar(xs + 0.2, top5, 0.4, color=colors or "tab:blue", alpha=0.45, hatch="//", label="top-5")
    for bars in (b1, b5):
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(xs, names, rotation=25, ha="right", fontsize=8)
    finite = [v for v in (*top1, *top5) if v is not None and np.isfinite(v)]
    low = max(0.0, np.floor((min(finite) - 5) / 10) * 10) if finite else 0.0
    ax.set_ylim(low, 100 + 0.07 * (100 - low))
    ax.set_ylabel("accuracy (%)" + (f", axis from {low:g}" if low else ""))
    ax.grid(axis="y", alpha=0.3)


PRECISION_COLORS = {"fp32": "tab:gray", "fp16": "tab:green", "int8": "tab:blue"}


def plot_topk(measured, reference_rows, measured_title: str, reference_title: str, axes=None):
    """Two panels: top-1 / top-5 measured here (``measured``: rows with ``recipe``, ``top1``, ``top5``;
    fp32 and fp16 rows are float, the rest int8), and the published reference figures
    (``effv2nb.quant.reference.rows()``), which are not measured here and are drawn apart from them."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [len(measured) or 1,
                                                                                      len(reference_rows) or 1]})
    left, right = axes
    kind = [r["recipe"] if r["recipe"] in ("fp32", "fp16") else "int8" for r in measured]
    _topk_bars(left, [r["recipe"] if r["recipe"] in ("fp32", "fp16") else f"int8 {r['recipe']}" for r in measured],
               [r["top1"] for r in measured], [r["top5"] for r in measured], [PRECISION_COLORS[k] for k in kind])
    left.set_title(measured_title, fontsize=10)
    _topk_bars(right, [f"{r['precision']}\n{r['short']}" for r in reference_rows], [r["top1"] for r in reference_rows],
               [r["top5"] for r in reference_rows], [PRECISION_COLORS[r["precision"]] for r in reference_rows])
    right.set_title(reference_title, fontsize=10)
    right.set_xticks(right.get_xticks(), right.get_xticklabels(), rotation=0, ha="center", fontsize=7)
    from matplotlib.patches import Patch

    left.legend(handles=[Patch(color="0.5", label="top-1"), Patch(color="0.5", alpha=0.45, hatch="//", label="top-5")],
                fontsize=8, loc="lower left")
    return axes
