"""Pictures of the int8 study (notebook 05): the side-by-side report and the greedy fallback's steps."""
from __future__ import annotations

import numpy as np


def plot_report(rows, ax=None, title: str = ""):
    """Exact and host logit SQNR per recipe (bars), images/s on a second axis (dots)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8))
    names = [r["recipe"] for r in rows]
    xs = np.arange(len(rows))
    ax.bar(xs - 0.2, [r["sqnr_db"] for r in rows], 0.4, color="tab:blue", label="exact (accelerator)")
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
    for rows, style, label in ((exact, "-", "exact (accelerator)"), (host, "--", "host: this CPU"),
                               (emulated, ":", "host: emulated AVX2, no VNNI")):
        if rows:
            q = [r for r in rows if r.get("quantized", True) and np.isfinite(r["sqnr_db"])]
            ax.plot([r["depth"] for r in q], [r["sqnr_db"] for r in q], style, marker=".", label=label)
    ax.set_xlabel("node index along the network")
    ax.set_ylabel("output SQNR vs fp32 (dB)")
    ax.set_title(title or "the same mod.onnx, two ways")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
