"""Notebook 06's curves: throughput against batch size, and speed against accuracy per int8 layout.

``throughput_vs_batch``: images/s of each ONNX variant at each batch size, one instance (``vamp_run``).
``exclusion_costs``: the int8 layouts of one fp32 model (all int8; SE, SiLU or both kept in float) plus
other variants (fp16, the stock recipe, the speed-aware one), timed interleaved at batch 1 against fp32,
each with its *exact* logit SQNR (``effv2nb.quant.int8_paths``, graph optimizations off: the QDQ
arithmetic as written, the same on every CPU, and the suite's model of the accelerator) and this CPU's host SQNR. ``sqnr_inputs``: images to score
them on, apart from the calibration images. With ``log=print`` the long loops print their estimated time
after the first timed unit (``effv2nb.core.estimate``).
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from effv2nb.bench.timing import interleaved, ratio_summary, round_ratios, vamp_run
from effv2nb.bench.variants import _calibration_images, _ort_runner


def throughput_vs_batch(onnx_files: dict, batches=(1, 2, 4, 8), iterations: int = 5, threads: int = 2,
                        size: int = 64, seconds: float = 0.0, log=None, knobs=()) -> dict:
    """``{variant: [images/s at each batch]}`` with one instance, for the notebook's plot.

    Each point runs ``iterations`` batches, or more when a batch is fast: enough to last about ``seconds``
    (from a timed first batch; at most 500), so a small model's points are not one scheduler tick each.
    """
    import math
    import time

    from effv2nb.core.estimate import Estimate

    est = Estimate("throughput against batch size", len(onnx_files), "variant", knobs,
                   log=log or (lambda _line: None))
    x = {b: np.zeros((b, 3, size, size), np.float32) for b in batches}
    out = {}
    for i, (k, path) in enumerate(onnx_files.items()):
        with est.timing(i):
            r = _ort_runner(path, threads)
            out[k] = []
            for b in batches:
                r.run(x[b])
                t0 = time.perf_counter()
                r.run(x[b])
                n = max(iterations, min(500, math.ceil(seconds / max(time.perf_counter() - t0, 1e-6))))
                out[k].append(vamp_run([r], b, n, (3, size, size), warmup=0).throughput)
            r.close()
    return out


def precision(onnx_path) -> str:
    """``"int8"`` (Quantize/Dequantize or quantized kernels), ``"fp16"`` (float16 weights) or ``"fp32"``."""
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger") for n in m.graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer):
        return "fp16"
    return "fp32"


def sqnr_inputs(model, size: int, n: int, val_dir=None):
    """``(x, where)``: ``n`` inputs (N, 3, size, size) with the model's device preprocessing to score SQNR on,
    and one line saying where they come from: ``val_dir`` (else the digits' val folder for tiny), else
    stand-in crops other than the calibration ones."""
    from effv2nb.core.settings import DIGITS_DIR
    from effv2nb.device import preprocess
    from effv2nb.formats.vdsp import generate_vdsp
    from effv2nb.model.models import info
    from effv2nb.quant import eval_sets

    i = info(model)
    vdsp = generate_vdsp(model, size)
    folder = val_dir or (DIGITS_DIR / "val" if i.name == "tiny" else None)
    if folder:
        ev = eval_sets.load_eval_set(folder, vdsp, i.labels(), size, limit=n, skip_unknown=True)
        return ev.head(len(ev)), f"{len(ev)} images of {Path(folder).name}/ (not calibration images)"
    x = np.stack([preprocess.apply(vdsp, im) for im in _calibration_images(i.name, n, seed=1)])
    return x, f"{len(x)} stand-in crops of matplotlib's sample photo (not the calibration crops)"


def exclusion_costs(fp32_onnx, calib, x: np.ndarray, workdir, threads: int = 2, rounds: int = 3,
                    per_round: int = 5, extra: dict | None = None, reduce_range="auto", log=None,
                    knobs=()) -> list:
    """What keeping each kind of node in float costs in int8 speed, and what each layout keeps of the logits.

    Layouts (``int8_recipes.fast_recipe``, ``reduce_range`` as given: pass the one ``compile`` chose for
    the speed-aware recipe to skip the per-layout decision): all int8; SE in float; SiLU in float; SE +
    SiLU in float; plus ``extra`` (``{name: onnx path}``, e.g. fp16, the stock and the speed-aware recipe).
    All are timed interleaved at batch 1 against fp32: a measurement of its own, so its result is the
    speed *relative to fp32 in the same rounds* (the median of per-round ratios, with their spread), not
    images/s to set beside another table's. One row each: ``layout``, ``precision``, ``float_nodes``
    (None for ``extra``), ``speedup_vs_fp32`` (+ ``speedup_min`` / ``speedup_max`` over ``rounds``),
    ``images_per_s`` (this measurement's), ``sqnr_db`` (exact, on ``x``) and ``host_sqnr_db`` (this
    CPU's fused kernels).
    """
    from effv2nb.core import metrics
    from effv2nb.core.estimate import Estimate
    from effv2nb.quant import graph_kinds, int8_paths, int8_recipes

    quiet = log or (lambda _line: None)
    rows = graph_kinds.node_table(fp32_onnx)
    kind = {k: tuple(r["node"] for r in rows if r["kind"] == k) for k in ("se", "silu")}
    layouts = {"all int8": (), "SE in float": kind["se"], "SiLU in float": kind["silu"],
               "SE + SiLU in float": kind["se"] + kind["silu"]}
    files = {"fp32": Path(fp32_onnx)}
    est = Estimate("the int8 layouts", len(layouts), "quantization", knobs, log=quiet)
    for i, (name, nodes) in enumerate(layouts.items()):
        with est.timing(i):
            recipe = int8_recipes.fast_recipe(len(calib), nodes).replace(reduce_range=reduce_range)
            files[name] = recipe.quantize(fp32_onnx, Path(workdir) / f"layout_{i}.onnx", calib)
    files.update({k: Path(v) for k, v in (extra or {}).items()})
    runners = {k: _ort_runner(p, threads) for k, p in files.items()}
    x1 = x[:1]
    times = interleaved({k: (lambda r=r: r.run(x1)) for k, r in runners.items()}, rounds, per_round,
                        Estimate("timing the layouts", rounds, "round", knobs, log=quiet))
    for r in runners.values():
        r.close()
    ref = int8_paths.run(fp32_onnx, x, int8_paths.EXACT, threads=threads)
    out = []
    for k, path in files.items():
        med = statistics.median(times[k])
        exact = int8_paths.run(path, x, int8_paths.EXACT, threads=threads) if k != "fp32" else ref
        host = int8_paths.run(path, x, int8_paths.HOST, threads=threads) if k != "fp32" else ref
        speed = ratio_summary(round_ratios(times[k], times["fp32"], per_round))
        out.append({"layout": k, "precision": precision(path),
                    "float_nodes": len(layouts[k]) if k in layouts else (0 if k == "fp32" else None),
                    "images_per_s": 1 / med, "speedup_vs_fp32": speed["median"],
                    "speedup_min": speed["min"], "speedup_max": speed["max"], "rounds": speed["n"], "path": str(path),
                    "nodes_to_exclude": list(layouts.get(k, ())),
                    "sqnr_db": metrics.sqnr_db(ref, exact) if k != "fp32" else float("inf"),
                    "host_sqnr_db": metrics.sqnr_db(ref, host) if k != "fp32" else float("inf")})
    return out


def format_costs(rows) -> str:
    """The layouts table: precision, float nodes, speed against fp32 in the same rounds (median and spread),
    exact and host SQNR."""
    lines = [f"{'layout':<26} {'prec':>4} {'float nodes':>11} {'vs fp32':>8} {'spread':>11} "
             f"{'exact dB':>8} {'host dB':>8}"]
    for r in rows:
        fl = "-" if r["float_nodes"] is None else r["float_nodes"]
        spread = f"{r['speedup_min']:.2f}-{r['speedup_max']:.2f}"
        lines.append(f"{r['layout']:<26} {r['precision']:>4} {fl:>11} {r['speedup_vs_fp32']:>8.2f} {spread:>11} "
                     f"{r['sqnr_db']:>8.2f} {r['host_sqnr_db']:>8.2f}")
    return "\n".join(lines)
