"""Why each int8 recipe is as fast as it is: notebook 06, section 5.

``with_kernels`` adds to each int8 row of ``curves.exclusion_costs`` what ONNX Runtime's optimized graph runs
on this CPU (``effv2nb.quant.int8_kernels``): convolutions on integer kernels, nodes left in float,
Quantize/Dequantize nodes left. ``against_intuition`` compares every pair of int8 recipes: where one runs
more in float yet measured faster, it says whether the two speeds lie within each other's spread over the
rounds (no measured difference) or not (a real inversion, to be measured again). ``where_int8_time_goes``
reads the int8 model's profile by op type (``timing.op_time_profile``).
"""
from __future__ import annotations

from effv2nb.quant import int8_kernels

SILU_SE_OPS = ("QLinearSigmoid", "QLinearMul", "QuickGelu", "Sigmoid", "Mul")
CONV_OPS = ("QLinearConv", "QLinearConv (depthwise)", "Conv", "Conv (depthwise)", "FusedConv", "FusedConv (depthwise)")


def with_kernels(costs) -> list:
    """The int8 rows of ``costs`` with ``convs``, ``integer_convs``, ``unfused_convs``, ``float_nodes``
    (in the optimized graph) and ``qdq_nodes`` added; other rows are left out."""
    out = []
    for r in costs:
        if r["precision"] != "int8":
            continue
        t = int8_kernels.count_kernels(r["path"])
        out.append(dict(r, convs=t["convs"]["total"], integer_convs=t["convs"]["integer"],
                        unfused_convs=len(int8_kernels.unfused_convs(t, r.get("nodes_to_exclude") or ())),
                        float_nodes=sum(t["float"].values()), qdq_nodes=sum(t["quantize"].values())))
    return out


def format_kernels(rows) -> str:
    """One line per int8 recipe: speed against fp32 (median, spread) and what runs on integer kernels."""
    lines = [f"{'recipe':<22} {'vs fp32':>7} {'spread':>11} {'int convs':>10} {'not fused':>9} "
             f"{'float nodes':>11} {'Q/DQ nodes':>10}"]
    for r in rows:
        lines.append(f"{r['layout']:<22} {r['speedup_vs_fp32']:>7.2f} {r['speedup_min']:.2f}-{r['speedup_max']:.2f}"
                     f" {r['integer_convs']:>5}/{r['convs']:<4} {r['unfused_convs']:>9} {r['float_nodes']:>11} "
                     f"{r['qdq_nodes']:>10}")
    return "\n".join(lines)


def _overlap(a, b) -> bool:
    return a["speedup_min"] <= b["speedup_max"] and b["speedup_min"] <= a["speedup_max"]


def against_intuition(rows) -> list:
    """``(line, real)`` for every pair where the recipe with more nodes outside integer kernels (float +
    Q/DQ) measured faster; ``real`` is False where the two speeds overlap over the rounds."""
    out = []
    for a in rows:
        for b in rows:
            more_float = (b["float_nodes"] + b["qdq_nodes"]) > (a["float_nodes"] + a["qdq_nodes"])
            if a is b or not more_float or b["speedup_vs_fp32"] <= a["speedup_vs_fp32"]:
                continue
            real = not _overlap(a, b)
            why = ("the two speeds do not overlap over the rounds: a real inversion; measure again before "
                   "believing it" if real else
                   f"within the rounds' spread ({a['speedup_min']:.2f}-{a['speedup_max']:.2f} against "
                   f"{b['speedup_min']:.2f}-{b['speedup_max']:.2f}): not a measured difference")
            out.append((f"{b['layout']} ({b['speedup_vs_fp32']:.2f}x, {b['float_nodes']} float + {b['qdq_nodes']} "
                        f"Q/DQ nodes) measured faster than {a['layout']} ({a['speedup_vs_fp32']:.2f}x, "
                        f"{a['float_nodes']} + {a['qdq_nodes']}): {why}", real))
    return out


def where_int8_time_goes(profile_ms: dict) -> dict:
    """Shares (%) of the int8 model's profiled time: convolutions, SiLU and SE gates (Sigmoid and Mul),
    Quantize/Dequantize, and the rest; plus the total in ms per batch-1 run."""
    total = sum(profile_ms.values()) or 1.0
    conv = sum(v for k, v in profile_ms.items() if k in CONV_OPS)
    silu = sum(v for k, v in profile_ms.items() if k in SILU_SE_OPS)
    qdq = sum(v for k, v in profile_ms.items() if k in ("QuantizeLinear", "DequantizeLinear"))
    return {"total_ms": total, "conv": 100 * conv / total, "silu_se": 100 * silu / total, "qdq": 100 * qdq / total,
            "rest": 100 * (total - conv - silu - qdq) / total}


def tiny_fast_kernels(workdir, n_calib: int = 50) -> dict:
    """``count_kernels`` of the fast recipe (``int8_recipes.fast_recipe``, all int8) on the bundled ``tiny``:
    the same check on the small model, beside a run on an ImageNet model."""
    from pathlib import Path

    from effv2nb.bench.variants import model_calibration_arrays
    from effv2nb.export.onnx_export import export_onnx
    from effv2nb.model import models
    from effv2nb.quant.int8_recipes import fast_recipe

    workdir = Path(workdir)
    from effv2nb.core.settings import TINY_WEIGHTS

    model = models.load("tiny", weights=TINY_WEIGHTS)      # the bundled weights, whatever EFFV2NB_WEIGHTS names
    fp32 = export_onnx(model, workdir / "tiny_64.onnx", size=64)
    calib = model_calibration_arrays(model, 64, n_calib)
    q = fast_recipe(len(calib)).quantize(fp32, workdir / "tiny_fast.onnx", calib)
    return dict(int8_kernels.count_kernels(q), nodes_to_exclude=[])
