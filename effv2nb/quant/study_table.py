"""The int8 study's accuracy table: notebook 05, ``int8-report``.

``accuracy_table``: fp32, fp16 and int8 for each recipe; ``format_table`` / ``plot_table`` show it.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from effv2nb.core.estimate import Estimate
from effv2nb.quant.eval_sets import EvalSet
from effv2nb.quant.onnx_eval import evaluate_onnx


def accuracy_table(fp32_onnx, evalset: EvalSet, calib, workdir, recipes, fp16: bool = True,
                   progress: bool = True, what: str = "the accuracy table", knobs=None, log=print) -> list:
    """Rows: fp32 (ORT), fp16 (if asked), then one int8 row per recipe. ``calib``: list of (1,3,H,W).

    With ``knobs`` (a list, even empty) one line estimates the time of ``what`` from its first int8
    model that is not already built (``int8_recipes.Recipe.is_built``), naming the knobs.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fp32 = evaluate_onnx(fp32_onnx, evalset, None, name="fp32 (ORT)")
    ref = fp32["logits"]
    fp32["agree_fp32"], fp32["sqnr_db"] = 100.0, float("inf")
    rows = [fp32]
    if fp16:
        from effv2nb.compile.ort_quantize import convert_fp16

        p16 = convert_fp16(fp32_onnx, workdir / "fp16.onnx")
        rows.append(evaluate_onnx(p16, evalset, ref, name="fp16"))
        rows[-1].pop("logits", None)
        rows[-1].pop("host_logits", None)
    items = list(recipes)
    built = [r.is_built(fp32_onnx, calib) for r in items]
    est = (Estimate(what, len(items) - sum(built), "int8 model", knobs, log=log)
           if knobs is not None and not all(built) else None)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="int8 recipes", leave=False)
    fresh = 0
    for i, r in enumerate(items):
        t = time.perf_counter()
        with est.timing(fresh) if est and not built[i] else nullcontext():
            path = r.quantize(fp32_onnx, workdir / f"int8_{i:02d}.onnx", calib)
            row = evaluate_onnx(path, evalset, ref, name=r.name)
        fresh += not built[i]
        row["quantize_s"] = time.perf_counter() - t
        row["recipe"] = r
        row.pop("logits", None)   # only fp32's are kept (50,000 x 1000 floats per row on ImageNet)
        row.pop("host_logits", None)
        rows.append(row)
    return rows


COLUMNS = (("model", "{:<56}"), ("top1", "{:>7.2f}"), ("top5", "{:>7.2f}"), ("agree_fp32", "{:>8.2f}"),
           ("sqnr_db", "{:>8.2f}"), ("host_sqnr_db", "{:>8.2f}"), ("size_mb", "{:>8.3f}"),
           ("images_per_s", "{:>9.0f}"))


HEADERS = ("model", "top-1", "top-5", "agree%", "exact dB", "host dB", "size MB", "images/s")


def format_table(rows) -> str:
    """A plain-text table of ``accuracy_table`` rows: accuracy on the exact path, SQNR on both
    (exact: the QDQ arithmetic as written, the suite's model of the accelerator; host: this CPU's int8 kernels), speed on the host."""
    head = " ".join(f"{h:<56}" if i == 0 else f"{h:>{len(f.format(0) if i else '')}}"
                    for i, (h, (_, f)) in enumerate(zip(HEADERS, COLUMNS)))
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for key, f in COLUMNS:
            v = r.get(key, "")
            if key == "model":
                cells.append(f.format(str(v)[:56]))
            elif isinstance(v, float) and not np.isfinite(v):
                cells.append(f"{'inf' if v > 0 else 'n/a':>{len(f.format(0.0))}}")
            else:
                cells.append(f.format(v))
        lines.append(" ".join(cells))
    return "\n".join(lines)


def plot_table(rows, ax=None, title: str = ""):
    """top-1 agreement and logit SQNR per model row (bars), fp32 excluded from SQNR."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    rows = [r for r in rows if np.isfinite(r["sqnr_db"])]
    names = [r["model"] for r in rows]
    xs = np.arange(len(rows))
    ax.bar(xs, [r["sqnr_db"] for r in rows], color="tab:blue", label="logit SQNR vs fp32 (dB)")
    ax.set_xticks(xs, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("SQNR (dB)")
    ax2 = ax.twinx()
    ax2.plot(xs, [r["agree_fp32"] for r in rows], "o-", color="tab:red", label="top-1 agreement (%)")
    low = np.floor(min([r["agree_fp32"] for r in rows] + [95.0])) - 0.5
    ax2.set_ylim(low, 100.5)              # agreement cannot pass 100 %: the axis stops there
    ax2.set_yticks([t for t in ax2.get_yticks() if low <= t <= 100])
    ax2.set_ylabel(f"top-1 agreement with fp32\n(%, axis cut: from {low:g})")
    ax.set_title(title or "fp16 and int8 recipes against fp32")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, loc="center right", fontsize=8)    # one legend, clear of the bars' tops and the line
    return ax
