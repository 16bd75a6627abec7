"""Notebook 05 (section "Where the error comes from"): why a percentile range clips better than max.

An int8 activation has 256 levels spread over the range calibration chose. ``max`` (MinMax) stretches
the range to the largest value seen, so a few outliers widen every step; a percentile range cuts
those outliers off (they saturate) and spends the levels where the values are. This module takes one
tensor of the float graph (the worst node of the per-layer SQNR, ``layer_error.layer_sqnr``), collects
its values on the calibration images (the fp32 model with that tensor added as a graph output), and
computes each range the way ONNX Runtime's calibrators do:

- ``max``: [min, max] of the values (``MinMaxCalibrater``);
- ``percentile p``: ±(the p-th percentile of |x|), kept inside [min, max] (``PercentileCalibrater``,
  symmetric as ORT's default; 2048-bin histogram there, exact percentile here);

each widened to include 0 and quantized to u8 (scale = range / 255, zero point on the grid). The
values fake-quantized with each range give its SQNR (dB) and the share of values it clips.
``plot_histogram`` draws the values with every range marked.
"""
from __future__ import annotations

import numpy as np

from effv2nb.core.metrics import sqnr_db

MAX_VALUES = 20_000_000     # values kept for the histogram and the SQNR (an even stride beyond)


def worst_node(layer_rows) -> dict:
    """The quantized node with the lowest finite per-layer SQNR (a row of ``layer_error.layer_sqnr``)."""
    rows = [r for r in layer_rows if r.get("quantized", True) and np.isfinite(r["sqnr_db"])]
    return min(rows, key=lambda r: r["sqnr_db"])


def tensor_values(fp32_onnx, tensor: str, arrays, max_values: int = MAX_VALUES) -> np.ndarray:
    """All values of ``tensor`` (an output of the fp32 graph) over ``arrays`` (each (1|N, 3, H, W)), flat,
    float32; an even stride of them when there are more than ``max_values``."""
    import onnx

    from effv2nb.core.ort_session import ort_session

    model = onnx.load(str(fp32_onnx))
    if tensor not in {o.name for o in model.graph.output}:
        model.graph.output.append(onnx.ValueInfoProto(name=tensor))
    sess = ort_session(model, optimize=False)
    inp = sess.get_inputs()[0].name
    chunks = [sess.run([tensor], {inp: np.asarray(a, dtype=np.float32).reshape(-1, *np.shape(a)[-3:])})[0].ravel()
              for a in arrays]
    values = np.concatenate(chunks).astype(np.float32)
    if values.size > max_values:
        values = values[:: int(np.ceil(values.size / max_values))]
    return values


def fake_quant(x, lo: float, hi: float) -> np.ndarray:
    """``x`` through u8 QuantizeLinear / DequantizeLinear with the range [lo, hi] (widened to hold 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    zp = np.clip(np.round(-lo / scale), 0, 255)
    q = np.clip(np.round(x / scale) + zp, 0, 255)
    return ((q - zp) * scale).astype(np.float32)


def cutoffs(values, percentiles=(99.99, 99.999)) -> list:
    """``max`` and each percentile's range on ``values``: ``{"name", "lo", "hi", "step", "clipped",
    "sqnr_db"}`` (``clipped``: % of values outside the range; ``sqnr_db``: the values against their
    fake-quantized copy)."""
    x = np.asarray(values, dtype=np.float32)
    vmin, vmax = float(x.min()), float(x.max())
    ranges = [("max", vmin, vmax)]
    for p in percentiles:
        t = float(np.percentile(np.abs(x), p))
        ranges.append((f"percentile {p:g}", max(-t, vmin), min(t, vmax)))
    out = []
    for name, lo, hi in ranges:
        lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
        out.append({"name": name, "lo": lo0, "hi": hi0, "step": (hi0 - lo0) / 255.0,
                    "clipped": 100.0 * float(np.mean((x < lo0) | (x > hi0))),
                    "sqnr_db": sqnr_db(x, fake_quant(x, lo0, hi0))})
    return out


CUT_COLORS = ("tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def plot_histogram(values, cuts, ax=None, title: str = "", bins: int = 200):
    """Histogram of ``values`` (log counts) with each range of ``cuts`` marked by two lines; the legend
    gives its step, the share it clips and the tensor's SQNR after int8 with it."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.6))
    x = np.asarray(values)
    ax.hist(x, bins=bins, color="0.6", log=True)
    for c, color in zip(cuts, CUT_COLORS):
        label = (f"{c['name']}: [{c['lo']:.3g}, {c['hi']:.3g}], step {c['step']:.3g}, "
                 f"clips {c['clipped']:.3f} %, SQNR {c['sqnr_db']:.1f} dB")
        ax.axvline(c["hi"], color=color, ls="--", lw=1.2, label=label)
        if c["lo"] < 0:
            ax.axvline(c["lo"], color=color, ls=":", lw=1.2)
    ax.set_xlabel("activation value on the calibration images (dashed: upper end of each range, dotted: lower)")
    ax.set_ylabel("count (log)")
    ax.set_title(title or "activation histogram with the int8 ranges")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return ax
