"""Precisions and runtimes side by side: notebook 06, ``python -m effv2nb bench --compare``.

``compare_variants`` builds fp32 / fp16 / int8 (the stock recipe and the speed-aware one) variants of one
model and measures them *interleaved* in one run (``effv2nb.bench.timing``), plus PyTorch eager (the same
model instance) and the end-to-end folder pipeline; ``format_compare`` prints the ``ratio`` lines.
Notebook 06's curves are in ``effv2nb.bench.curves``. Speed is reported as ratios measured in one run;
with ``log=print`` each long part prints its estimated time after its first timed unit
(``effv2nb.core.estimate``).
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from effv2nb.bench.timing import (format_ratio, interleaved, matmul_peak_gflops, op_time_profile, ratio_summary,
                                  round_ratios)
from effv2nb.core import cpu
from effv2nb.formats.vdsp import generate_vdsp


# The project's own goals for ``ratio ort_int8/ort_fp32`` (rw_t at 288 px, batch 1), by CPU kind
# (``effv2nb.core.cpu.kind``): targets this suite set itself, not measurements and not vendor figures.
INT8_SPEEDUP_TARGETS = {"model": "efficientnetv2_rw_t", "size": 288, "vnni": 1.5, "avx2-no-vnni": 1.25}


def target_line(result: dict, kind: str | None = None) -> str:
    """One line: this run's int8/fp32 ratio against the project's target for this CPU kind, or why the
    target does not apply (another model or size, or a CPU kind it has none for)."""
    ctx, t = result["context"], INT8_SPEEDUP_TARGETS
    kind = kind or cpu.kind()
    r = result["ratios"]["ort_int8/ort_fp32"]
    head = (f"ratio ort_int8/ort_fp32 {r['median']:.2f} (spread {r['min']:.2f}-{r['max']:.2f}); the project's "
            f"target for {t['model']} at {t['size']} px, batch 1")
    if kind not in t:
        return f"{head}: none for CPU kind {kind!r}"
    if (ctx["model"], ctx["size"]) != (t["model"], t["size"]):
        return f"{head} on {kind}: {t[kind]:g}x (not comparable: this run is {ctx['model']} at {ctx['size']} px)"
    return f"{head} on {kind}: {t[kind]:g}x -> {'met' if r['median'] >= t[kind] else 'not met'} in this run"


def _ort_runner(path, threads):
    """A timing session: ORT on the CPU, threads that sleep between runs (no spinning), so sessions timed
    in turn do not slow each other down (``effv2nb.core.ort_session``)."""
    from effv2nb.device.runtime import OrtRunner

    return OrtRunner(path, providers=["CPUExecutionProvider"], threads=threads, spin=False)


def _calibration_images(name: str, n: int, calib_dir=None, seed: int = 0) -> list:
    """Calibration images for the compare run: ``calib_dir`` if given, else the digits (tiny) or
    matplotlib's sample photo in varied crops (stand-ins, not ImageNet: fine for speed; ``seed``
    picks the crops, so another seed gives held-out ones)."""
    from effv2nb.data.datasets import list_images
    from effv2nb.data.images import read_image
    from effv2nb.core.settings import DIGITS_DIR

    if calib_dir:
        return [read_image(p) for p in list_images(calib_dir)[:n]]
    if name == "tiny":
        return [read_image(p) for p in list_images(DIGITS_DIR / "calib")[:n]]
    from matplotlib import cbook

    base = read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    w, h = base.size
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = rng.uniform(0.5, 1.0)
        cw, ch = int(w * s), int(h * s)
        x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        out.append(base.crop((x0, y0, x0 + cw, y0 + ch)))
    return out


def model_calibration_arrays(model, size: int, n: int, calib_dir=None) -> list:
    """``n`` calibration inputs (1, 3, size, size) with the model's device preprocessing (vdsp),
    from ``_calibration_images`` (a folder, the digits for tiny, or stand-in photos)."""
    from effv2nb.device import preprocess
    from effv2nb.model.models import info

    vdsp = generate_vdsp(model, size)
    return [preprocess.apply(vdsp, im)[None] for im in _calibration_images(info(model).name, n, calib_dir)]


def build_variants(model, size: int, workdir, calib_n: int = 300, calib_dir=None, eval_dir=None,
                   quick: bool = False, log=None, knobs=()) -> dict:
    """fp32 / fp16 / int8-stock / int8-best ONNX files of ``model`` under ``workdir``.

    int8-best is the speed-aware recipe (``int8_search.speed_aware_search``: all int8, block-level
    float fallback until logit SQNR >= 31 dB and top-1 agreement >= 99.5 % against fp32) when there are
    images to check it on (``eval_dir``, or the digits for tiny); otherwise ``fast_recipe`` with the head
    block in float, and the returned ``notes`` say that its accuracy was not verified.
    ``log``: where the estimated build time goes (timed on the first quantization); ``knobs``: what shortens it.
    """
    from effv2nb.compile import ort_quantize as comp
    from effv2nb.core.estimate import Estimate
    from effv2nb.core.settings import DIGITS_DIR
    from effv2nb.export.onnx_export import export_onnx
    from effv2nb.model.models import info
    from effv2nb.quant import eval_sets, int8_recipes, int8_search, onnx_eval

    workdir = Path(workdir)
    i = info(model)
    fp32 = export_onnx(model, workdir / f"{i.name}_{size}.onnx", size=size)
    files = {"ort_fp32": fp32, "ort_fp16": comp.convert_fp16(fp32, workdir / "fp16.onnx")}
    vdsp = generate_vdsp(model, size)
    calib = model_calibration_arrays(model, size, calib_n, calib_dir)
    eval_dir = eval_dir or (DIGITS_DIR / "val" if i.name == "tiny" else None)
    max_steps = 3 if quick else 6
    groups = int8_search.block_groups(fp32)
    notes, excluded = {}, {"ort_int8_stock": ()}

    def stock():
        files["ort_int8_stock"] = int8_recipes.stock_recipe(num_calib=min(50, len(calib))).quantize(
            fp32, workdir / "int8_stock.onnx", calib)

    def best():
        if eval_dir:
            ev = eval_sets.load_eval_set(eval_dir, vdsp, i.labels(), size, limit=100 if quick else None,
                                         skip_unknown=True)
            res = int8_search.speed_aware_search(fp32, calib, ev, onnx_eval.ort_run(fp32, ev), workdir / "search",
                                                 max_steps=max_steps, sens_calib=16 if quick else 50, progress=False)
            files["ort_int8_best"] = Path(res.steps[-1]["path"])
            excluded["ort_int8_best"] = tuple(res.nodes_to_exclude)
            notes["int8_best"] = (f"speed-aware search from {int8_recipes.fast_recipe().name}; float blocks: "
                                  f"{', '.join(res.kept_float) or 'none'}; SQNR {res.steps[-1]['sqnr_db']:.2f} dB, "
                                  f"agreement {res.steps[-1]['agree_fp32']:.2f} % on {len(ev)} images; "
                                  f"targets met: {res.met}")
        else:
            excluded["ort_int8_best"] = tuple(groups.get("head", []))
            files["ort_int8_best"] = int8_recipes.fast_recipe(len(calib), excluded["ort_int8_best"]).quantize(
                fp32, workdir / "int8_best.onnx", calib)
            notes["int8_best"] = ("fast recipe, head block in float; accuracy not verified here "
                                  "(give --val-dir, or run notebook 05 with ImageNet)")

    # the first unit timed is a per-channel quantization (the search's kind), or the stock one before a search
    steps = (stock, best) if eval_dir else (best, stock)
    n_quant = 2 + (len(groups) + max_steps if eval_dir else 0)
    est = Estimate("building the int8 variants" + (" (at most)" if eval_dir else ""), n_quant, "quantization",
                   knobs, log=log or (lambda _line: None))
    for k, step in enumerate(steps):
        with est.timing(k):
            step()
    best_path = files["ort_int8_best"]
    chk = _int8_check(fp32, best_path, calib)
    notes["int8_best_check"] = (f"exact {chk['exact_sqnr_db']:.2f} dB, host {chk['host_sqnr_db']:.2f} dB on "
                                f"{chk['n']} calibration images (host loses {chk['host_loss_db']:.2f} dB; "
                                f"reduce_range {_chosen(best_path)})")
    files = {k: files[k] for k in ("ort_fp32", "ort_fp16", "ort_int8_stock", "ort_int8_best")}
    files["notes"] = notes
    files["excluded"] = excluded
    return files


def _int8_check(fp32, q, calib) -> dict:
    """compile's int8 check (exact against host) of one variant, on a spread of the calibration images."""
    from effv2nb.quant import int8_guard
    from effv2nb.data.folds import spread
    from effv2nb.quant.int8_paths import run

    probe = np.concatenate(spread(calib, 16))
    return int8_guard.check(run(fp32, probe), q, probe)


def _chosen(onnx_path) -> str:
    from effv2nb.quant.int8_recipes import chosen_reduce_range

    c = chosen_reduce_range(onnx_path)
    return "as set" if c is None else f"auto -> {str(c).lower()}"


def compare_variants(name: str | None = None, size: int | None = None, quick: bool = False, threads: int = 2,
                     weights="auto", calib_dir=None, eval_dir=None, pipeline_images: int | None = None, workdir=None,
                     model=None, rounds: int | None = None, log=None, knobs=()) -> dict:
    """The interleaved comparison; returns ``{"rows": [...], "ratios": {...}, "context": {...}, "files": {...}}``.

    ``model``: the model instance to compare (notebook 06 passes the one it loaded, so PyTorch eager and
    every exported variant are that model); without it ``name`` is loaded with ``weights``. A model with
    random weights is conditioned first (``condition_random_model``, as ``export`` does; the same result
    when it already was). ``workdir``: keep the built ONNX variants there (``files`` then points at them);
    default: a temp folder. ``rounds``: interleaved rounds (default 3 quick, 9 full). ``log``/``knobs``:
    estimated times of the long parts, printed after their first timed unit, and what shortens them.
    """
    import torch

    from effv2nb.core.estimate import Estimate
    from effv2nb.device import infer
    from effv2nb.model import complexity
    from effv2nb.quant import int8_kernels
    from effv2nb.model.models import info, load

    torch.set_num_threads(threads)
    if model is None:
        model = load(name, weights=weights)
    elif name is not None and name != info(model).name:
        raise ValueError(f"name {name!r} but the model given is {info(model).name!r}")
    name = info(model).name
    size = int(size or info(model).input_size)
    if not info(model).trained:   # as `export` does: a sane random network, so the int8 check measures the quantizer
        from effv2nb.export.onnx_export import condition_random_model

        condition_random_model(model, size)
    batches = (1, 8)
    rounds, per_round = (int(rounds) if rounds else (3 if quick else 9)), (2 if quick else 4)
    quiet = log or (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix="effv2nb-bench-") as tmp:
        # speed does not depend on the calibration count; 300 images verify the tiny recipe, 50 (the
        # vendor's count) keep an rw compile short
        calib_n = 50 if quick or name != "tiny" else 300
        files = build_variants(model, size, workdir or tmp, calib_n=calib_n, calib_dir=calib_dir,
                               eval_dir=eval_dir, quick=quick, log=log, knobs=knobs)
        notes = files.pop("notes")
        excluded = files.pop("excluded")
        kernels = {k: dict(int8_kernels.count_kernels(files[k]), nodes_to_exclude=list(excluded[k]))
                   for k in ("ort_int8_stock", "ort_int8_best")}
        runners = {k: _ort_runner(p, threads) for k, p in files.items()}
        rng = np.random.default_rng(0)
        xs = {b: rng.standard_normal((b, 3, size, size)).astype(np.float32) for b in batches}
        tx = {b: torch.from_numpy(xs[b]) for b in batches}
        fns = {}
        for b in batches:
            def eager(b=b):
                with torch.inference_mode():
                    model(tx[b])
            fns[("torch_eager", b)] = eager
            for k, r in runners.items():
                fns[(k, b)] = (lambda r=r, b=b: r.run(xs[b]))
        times = interleaved(fns, rounds, per_round, Estimate("the interleaved timing", rounds, "round",
                                                             knobs, log=quiet))
        rows = []
        for (k, b), ts in times.items():
            med = statistics.median(ts)
            per_round_ips = [b / statistics.median(ts[i:i + per_round]) for i in range(0, len(ts), per_round)]
            rows.append({"name": k, "batch": b, "images_per_s": b / med, "latency_ms_p50": med * 1e3,
                         "latency_ms_p90": float(np.percentile(ts, 90) * 1e3), "samples": ts,
                         "images_per_s_min": min(per_round_ips), "images_per_s_max": max(per_round_ips)})
        by = {(r["name"], r["batch"]): r["images_per_s"] for r in rows}

        # end-to-end folder pipeline vs model only, ORT fp32, async mode, JPEG folder
        vdsp = generate_vdsp(model, size)
        folder = Path(tmp) / "jpegs"
        n_img = pipeline_images or (16 if quick else 96)
        _write_jpeg_folder(folder, _calibration_images(name, n_img, calib_dir), size)
        fp32 = runners["ort_fp32"]
        infer.run_folder(fp32, folder, vdsp, mode="async", batch=8, progress=False)  # warm the caches
        pipe, model_only = [], []
        reps = 2 if quick else 5
        est = Estimate(f"the folder pipeline ({n_img} JPEGs)", reps, "repeat", knobs, log=quiet)
        for k in range(reps):
            with est.timing(k):
                _, st = infer.run_folder(fp32, folder, vdsp, mode="async", batch=8, progress=False)
                pipe.append(st.images / st.seconds)
                model_only.append(infer.model_only(fp32, folder, vdsp, batch=8))
        pipeline = [{"name": "pipeline_async (decode+vdsp+fp32+result)", "batch": 8,
                     "images_per_s": statistics.median(pipe), "images_per_s_min": min(pipe),
                     "images_per_s_max": max(pipe), "samples": pipe, "images": n_img},
                    {"name": "model_only (fp32, same images)", "batch": 8,
                     "images_per_s": statistics.median(model_only), "images_per_s_min": min(model_only),
                     "images_per_s_max": max(model_only), "samples": model_only, "images": n_img}]
        cost = complexity.count(model, size)
        peak = matmul_peak_gflops(threads=threads, n=1024 if quick else 2048)
        profile = {k: op_time_profile(files[k], xs[1], runs=2 if quick else 5, threads=threads)
                   for k in ("ort_fp32", "ort_int8_best")}
        for r in runners.values():
            r.close()
    gflop = cost["flops"] / 1e9
    context = {"model": name, "size": size, "threads": threads, "weights": info(model).weights,
               "gflops_per_image": gflop, "peak_gflops": peak, "quick": quick, "rounds": rounds,
               "per_round": per_round, "calib_n": calib_n, "calib_dir": calib_dir,
               "achieved": {k: by[(k, 1)] * gflop for k in ("torch_eager", "ort_fp32", "ort_int8_best")},
               "profile_ms": profile, "notes": notes, "kernels": kernels, "cpu": cpu.describe()}
    ratios = {
        "ort_fp32/torch_eager": ratio_summary(round_ratios(times[("ort_fp32", 1)], times[("torch_eager", 1)],
                                                           per_round)),
        "ort_int8/ort_fp32": ratio_summary(round_ratios(times[("ort_int8_best", 1)], times[("ort_fp32", 1)],
                                                        per_round)),
        "pipeline/model_only": ratio_summary([p / m for p, m in zip(pipe, model_only)]),
    }
    return {"rows": rows, "pipeline": pipeline, "ratios": ratios, "context": context, "files": files if workdir else {}}


def _write_jpeg_folder(folder: Path, images, size: int):
    """A class folder of JPEGs about twice the model's input size, so decode and resize do real work."""
    from effv2nb.core import atomic

    (folder / "0").mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        im = im.resize((2 * size, 2 * size))
        with atomic.atomic_path(folder / "0" / f"img_{i:04d}.jpg") as tmp:
            im.save(tmp, format="JPEG", quality=90)


def kernel_line(name: str, table: dict) -> str:
    """One line of ``int8_kernels.count_kernels``'s table: what ORT runs on integer kernels on this CPU."""
    from effv2nb.quant.int8_kernels import unfused_convs

    c = table["convs"]
    unfused = unfused_convs(table, table.get("nodes_to_exclude", ()))
    fl = ", ".join(f"{op} {n}" for op, n in table["float"].items()) or "none"
    q = table["quantize"]
    return (f"{name} on this CPU (ORT's optimized graph): {c['integer']} of {c['total']} convolutions on integer "
            f"kernels, {len(c['float']) - len(unfused)} kept in float on purpose, {len(unfused)} not fused; "
            f"float nodes: {fl}; QuantizeLinear {q.get('QuantizeLinear', 0)}, DequantizeLinear "
            f"{q.get('DequantizeLinear', 0)}")


def format_compare(result: dict, cpu: bool = True) -> str:
    """The table of record: every variant at batch 1 and 8 in one interleaved run (median images/s and its
    spread over the rounds, latency percentiles), then the folder pipeline (its own repeats), then the ratios
    with their per-round distribution; ``cpu``: with this CPU's line (``bench --compare`` prints it)."""
    ctx = result["context"]
    lines = [f"model {ctx['model']} @ {ctx['size']} px, {ctx['threads']} threads, weights: {ctx['weights']}",
             f"interleaved timing, {ctx['rounds']} rounds x {ctx['per_round']} calls per variant and batch; "
             "img/s is the median, its spread the slowest and fastest round",
             f"{'variant':<16s} {'batch':>5s} {'img/s':>9s} {'spread img/s':>17s} {'p50 ms':>9s} {'p90 ms':>9s}"]
    for r in result["rows"]:
        spread = f"{r['images_per_s_min']:.1f}-{r['images_per_s_max']:.1f}"
        lines.append(f"{r['name']:<16s} {r['batch']:5d} {r['images_per_s']:9.1f} {spread:>17s} "
                     f"{r['latency_ms_p50']:9.2f} {r['latency_ms_p90']:9.2f}")
    for r in result.get("pipeline", []):
        lines.append(f"{r['name']}: {r['images_per_s']:.1f} img/s at batch {r['batch']} (spread "
                     f"{r['images_per_s_min']:.1f}-{r['images_per_s_max']:.1f} over {len(r['samples'])} repeats, "
                     f"{r['images']} JPEGs)")
    lines.append(f"compute: {ctx['gflops_per_image']:.3f} GFLOP/image (fp32-equivalent); float32 matmul peak "
                 f"{ctx['peak_gflops']:.0f} GFLOP/s; achieved at batch 1: "
                 + ", ".join(f"{k} {v:.1f} GFLOP/s ({v / ctx['peak_gflops'] * 100:.0f} % of the fp32 peak)"
                             for k, v in ctx["achieved"].items())
                 + " (int8 counted in fp32-equivalent FLOPs can pass the fp32 peak: an 8-bit multiply-add"
                 " instruction does more products per vector lane than a float32 one)")
    for k, v in ctx.get("notes", {}).items():
        lines.append(f"{k}: {v}")
    for k, table in ctx.get("kernels", {}).items():
        lines.append(kernel_line(k, table))
    if cpu:                      # a notebook prints the CPU line once, at its top
        lines.append(ctx.get("cpu", ""))
    for k, v in result["ratios"].items():
        lines.append(format_ratio(k, v))
    return "\n".join(lines)
