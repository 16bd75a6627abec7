"""Speed, like the vendor's ``vamp``: ``python -m effv2nb bench``.

Two modes:

* ``bench --model-prefix PREFIX --iterations N --instances P --batch B --shape 3,H,W`` runs a compiled
  model the way ``vamp`` does: P parallel instances (one session each, in threads), batch B, N
  iterations each after warm-up; prints throughput and per-batch latency percentiles.
* ``bench --compare --model NAME --size N`` builds fp32 / fp16 / int8 (stock and best recipe) variants
  of one model and measures them *interleaved* in one run (round-robin, so a drifting machine hurts
  all alike), plus PyTorch eager and the end-to-end folder pipeline, and prints ``ratio`` lines.
Speed is reported as ratios measured in one run; no test asserts a speed.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import cpu
from .errors import Effv2nbError


# --------------------------------------------------------------------------- measurement core
@dataclass
class Timing:
    """Per-batch latencies (seconds) of one measured configuration."""

    name: str
    batch: int
    latencies: list = field(default_factory=list)
    wall: float = 0.0
    images: int = 0

    @property
    def throughput(self) -> float:
        return self.images / self.wall if self.wall > 0 else float("nan")

    def pct(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.latencies) * 1e3, q)) if self.latencies else float("nan")


def vamp_run(runners, batch: int, iterations: int, shape, warmup: int = 2, seed: int = 0) -> Timing:
    """``len(runners)`` instances in parallel threads, each ``iterations`` batches of ``batch``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    for r in runners:
        for _ in range(warmup):
            r.run(x)
    t = Timing("vamp", batch)

    def worker(r):
        lat = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            r.run(x)
            lat.append(time.perf_counter() - t0)
        return lat

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=len(runners)) as pool:
        for lat in pool.map(worker, runners):
            t.latencies.extend(lat)
    t.wall = time.perf_counter() - t0
    t.images = len(runners) * iterations * batch
    return t


def interleaved(fns: dict, rounds: int, per_round: int) -> dict:
    """Time each callable ``per_round`` times per round, rounds interleaved A B C A B C ...

    Returns ``{name: [seconds per call, ...]}`` (round after round, ``per_round`` each); callables
    were warmed up once before.
    """
    for fn in fns.values():
        fn()
    out = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                out[name].append(time.perf_counter() - t0)
    return out


def round_ratios(num, den, per_round: int) -> list:
    """Per-round speed ratios ``median(den) / median(num)`` of two ``interleaved`` time lists
    (``num`` faster than ``den`` gives a ratio above 1), one per round."""
    n = min(len(num), len(den)) // per_round
    return [statistics.median(den[i * per_round:(i + 1) * per_round]) /
            statistics.median(num[i * per_round:(i + 1) * per_round]) for i in range(n)]


def ratio_summary(values) -> dict:
    """Median of per-round ratios with their spread (min, max) and count."""
    v = [float(x) for x in values]
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, threads: int | None = None) -> float:
    """The machine's float32 peak as measured by a large matrix product (torch, same threads)."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- ORT profiling
def op_time_profile(onnx_path, x: np.ndarray, runs: int = 5, threads: int | None = None) -> dict:
    """ORT's profiler summed by op type (depthwise Conv apart): ``{op: milliseconds per run}``."""
    import json

    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_path))
    depthwise = {n.name for n in model.graph.node if n.op_type == "Conv"
                 and any(a.name == "group" and a.i > 1 for a in n.attribute)}
    so = ort.SessionOptions()
    so.enable_profiling = True
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="effv2nb-prof-") as tmp:
        so.profile_file_prefix = os.path.join(tmp, "prof")
        if threads:
            so.intra_op_num_threads = int(threads)
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        x = x.astype(np.float16 if "float16" in sess.get_inputs()[0].type else np.float32)
        for _ in range(runs):
            sess.run(None, {name: x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    totals = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        op = e.get("args", {}).get("op_name", "?")
        node = e["name"][: -len("_kernel_time")]
        if op == "Conv" and node in depthwise:
            op = "Conv (depthwise)"
        totals[op] = totals.get(op, 0.0) + e["dur"] / 1e3 / runs
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


# --------------------------------------------------------------------------- compare
def _ort_runner(path, threads):
    from .runtime import OrtRunner

    return OrtRunner(path, providers=["CPUExecutionProvider"], threads=threads)


def _calibration_images(name: str, n: int, calib_dir=None) -> list:
    """Calibration images for the compare run: ``calib_dir`` if given, else the digits (tiny) or
    matplotlib's sample photos in varied crops (stand-ins, not ImageNet: fine for speed)."""
    from .datasets import list_images
    from .images import read_image
    from .settings import DIGITS_DIR

    if calib_dir:
        return [read_image(p) for p in list_images(calib_dir)[:n]]
    if name == "tiny":
        return [read_image(p) for p in list_images(DIGITS_DIR / "calib")[:n]]
    from matplotlib import cbook

    base = read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    w, h = base.size
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        s = rng.uniform(0.5, 1.0)
        cw, ch = int(w * s), int(h * s)
        x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        out.append(base.crop((x0, y0, x0 + cw, y0 + ch)))
    return out


def calibration_arrays(model, size: int, n: int, calib_dir=None) -> list:
    """``n`` calibration inputs (1, 3, size, size) with the model's device preprocessing (vdsp),
    from ``_calibration_images`` (a folder, the digits for tiny, or stand-in photos)."""
    from . import preprocess
    from .models import info

    vdsp = preprocess.vdsp_for_model(model, size)
    return [preprocess.apply(vdsp, im)[None] for im in _calibration_images(info(model).name, n, calib_dir)]


def build_variants(model, size: int, workdir, calib_n: int = 300, calib_dir=None, eval_dir=None,
                   quick: bool = False) -> dict:
    """fp32 / fp16 / int8-stock / int8-best ONNX files of ``model`` under ``workdir``.

    int8-best is the speed-aware recipe (``quant_analysis.speed_aware_search``: all int8, block-level
    float fallback until logit SQNR >= 31 dB and top-1 agreement >= 99.5 % against fp32) when there are
    images to check it on (``eval_dir``, or the digits for tiny); otherwise ``fast_recipe`` with the head
    block in float, and the returned ``notes`` say that its accuracy was not verified.
    """
    from . import compile as comp
    from . import preprocess
    from . import quant_analysis as qa
    from .export import export_onnx
    from .models import info

    workdir = Path(workdir)
    i = info(model)
    fp32 = export_onnx(model, workdir / f"{i.name}_{size}.onnx", size=size)
    files = {"ort_fp32": fp32, "ort_fp16": comp.convert_fp16(fp32, workdir / "fp16.onnx")}
    vdsp = preprocess.vdsp_for_model(model, size)
    calib = calibration_arrays(model, size, calib_n, calib_dir)
    files["ort_int8_stock"] = qa.stock_recipe(num_calib=min(50, len(calib))).quantize(
        fp32, workdir / "int8_stock.onnx", calib)
    from .settings import DIGITS_DIR

    eval_dir = eval_dir or (DIGITS_DIR / "val" if i.name == "tiny" else None)
    notes = {}
    if eval_dir:
        ev = qa.load_eval_set(eval_dir, vdsp, i.labels(), size, limit=100 if quick else None, skip_unknown=True)
        ref = qa.ort_run(fp32, ev)
        res = qa.speed_aware_search(fp32, calib, ev, ref, workdir / "search", max_steps=3 if quick else 6,
                                    sens_calib=16 if quick else 50, progress=False)
        best = Path(res.steps[-1]["path"])
        notes["int8_best"] = (f"{qa.fast_recipe().name}; float blocks: {', '.join(res.kept_float) or 'none'}; "
                              f"SQNR {res.steps[-1]['sqnr_db']:.2f} dB, agreement {res.steps[-1]['agree_fp32']:.2f} % "
                              f"on {len(ev)} images; targets met: {res.met}")
    else:
        head = qa.block_groups(fp32).get("head", [])
        best = qa.fast_recipe(len(calib), head).quantize(fp32, workdir / "int8_best.onnx", calib)
        notes["int8_best"] = ("fast recipe, head block in float; accuracy not verified here "
                              "(give --val-dir, or run notebook 05 with ImageNet)")
    files["ort_int8_best"] = best
    chk = _int8_check(fp32, best, calib)
    notes["int8_best_check"] = (f"exact {chk['exact_sqnr_db']:.2f} dB, host {chk['host_sqnr_db']:.2f} dB on "
                                f"{chk['n']} calibration images (host loses {chk['host_loss_db']:.2f} dB; "
                                f"reduce_range {_chosen(best)})")
    files["notes"] = notes
    return files


def _int8_check(fp32, q, calib) -> dict:
    """compile's int8 check (exact against host) of one variant, on a spread of the calibration images."""
    from . import int8_guard
    from .folds import spread
    from .int8_paths import run

    probe = np.concatenate(spread(calib, 16))
    return int8_guard.check(run(fp32, probe), q, probe)


def _chosen(onnx_path) -> str:
    from .int8_recipes import chosen_reduce_range

    c = chosen_reduce_range(onnx_path)
    return "as set" if c is None else f"auto -> {str(c).lower()}"


def compare(name: str, size: int | None = None, quick: bool = False, threads: int = 2, weights="auto",
            calib_dir=None, eval_dir=None, pipeline_images: int | None = None, workdir=None) -> dict:
    """The interleaved comparison; returns ``{"rows": [...], "ratios": {...}, "context": {...}, "files": {...}}``.

    ``workdir``: keep the built ONNX variants there (``files`` then points at them); default: a temp folder.
    """
    import torch

    from . import complexity, infer, preprocess
    from .models import info, load

    torch.set_num_threads(threads)
    model = load(name, weights=weights)
    size = int(size or info(model).input_size)
    if not info(model).trained:   # as `export` does: a sane random network, so the int8 check measures the quantizer
        from .export import condition_random_model

        condition_random_model(model, size)
    batches = (1, 8)
    rounds, per_round = (3, 2) if quick else (9, 4)
    with tempfile.TemporaryDirectory(prefix="effv2nb-bench-") as tmp:
        # speed does not depend on the calibration count; 300 images verify the tiny recipe, 50 (the
        # vendor's count) keep an rw compile short
        calib_n = 50 if quick or name != "tiny" else 300
        files = build_variants(model, size, workdir or tmp, calib_n=calib_n, calib_dir=calib_dir,
                               eval_dir=eval_dir, quick=quick)
        notes = files.pop("notes")
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
        times = interleaved(fns, rounds, per_round)
        rows = []
        for (k, b), ts in times.items():
            med = statistics.median(ts)
            rows.append({"name": k, "batch": b, "images_per_s": b / med, "latency_ms_p50": med * 1e3,
                         "latency_ms_p90": float(np.percentile(ts, 90) * 1e3), "samples": ts})
        by = {(r["name"], r["batch"]): r["images_per_s"] for r in rows}

        # end-to-end folder pipeline vs model only, ORT fp32, async mode, JPEG folder
        vdsp = preprocess.vdsp_for_model(model, size)
        folder = Path(tmp) / "jpegs"
        n_img = pipeline_images or (16 if quick else 96)
        _write_jpeg_folder(folder, _calibration_images(name, n_img, calib_dir), size)
        fp32 = runners["ort_fp32"]
        infer.run_folder(fp32, folder, vdsp, mode="async", batch=8, progress=False)  # warm the caches
        pipe, model_only = [], []
        for _ in range(2 if quick else 5):
            _, st = infer.run_folder(fp32, folder, vdsp, mode="async", batch=8, progress=False)
            pipe.append(st.images / st.seconds)
            model_only.append(infer.model_only(fp32, folder, vdsp, batch=8))
        rows.append({"name": "pipeline_async (decode+vdsp+fp32+result)", "batch": 8,
                     "images_per_s": statistics.median(pipe), "latency_ms_p50": float("nan"),
                     "latency_ms_p90": float("nan"), "samples": pipe})
        rows.append({"name": "model_only (fp32, same images)", "batch": 8,
                     "images_per_s": statistics.median(model_only), "latency_ms_p50": float("nan"),
                     "latency_ms_p90": float("nan"), "samples": model_only})
        cost = complexity.count(model, size)
        peak = matmul_peak_gflops(threads=threads, n=1024 if quick else 2048)
        profile = {k: op_time_profile(files[k], xs[1], runs=2 if quick else 5, threads=threads)
                   for k in ("ort_fp32", "ort_int8_best")}
        for r in runners.values():
            r.close()
    gflop = cost["flops"] / 1e9
    context = {"model": name, "size": size, "threads": threads, "weights": info(model).weights,
               "gflops_per_image": gflop, "peak_gflops": peak, "quick": quick,
               "achieved": {k: by[(k, 1)] * gflop for k in ("torch_eager", "ort_fp32", "ort_int8_best")},
               "profile_ms": profile, "notes": notes, "cpu": cpu.describe()}
    ratios = {
        "ort_fp32/torch_eager": ratio_summary(round_ratios(times[("ort_fp32", 1)], times[("torch_eager", 1)],
                                                           per_round)),
        "ort_int8/ort_fp32": ratio_summary(round_ratios(times[("ort_int8_best", 1)], times[("ort_fp32", 1)],
                                                        per_round)),
        "pipeline/model_only": ratio_summary([p / m for p, m in zip(pipe, model_only)]),
    }
    return {"rows": rows, "ratios": ratios, "context": context, "files": files if workdir else {}}


def throughput_vs_batch(onnx_files: dict, batches=(1, 2, 4, 8), iterations: int = 5, threads: int = 2,
                        size: int = 64) -> dict:
    """``{variant: [images/s at each batch]}`` with one instance, for the notebook's plot."""
    out = {}
    for k, path in onnx_files.items():
        r = _ort_runner(path, threads)
        out[k] = [vamp_run([r], b, iterations, (3, size, size), warmup=1).throughput for b in batches]
        r.close()
    return out


def exclusion_costs(fp32_onnx, calib, x: np.ndarray, workdir, threads: int = 2, rounds: int = 3,
                    per_round: int = 5, extra: dict | None = None) -> list:
    """What keeping each kind of node in float costs in int8 speed (and logit SQNR on ``x``).

    Layouts: all int8; SE in float; SiLU in float; SE + SiLU in float; plus ``extra``
    (``{name: onnx path}``, e.g. the speed-aware recipe). Timed interleaved at batch 1 against fp32.
    """
    from . import quant_analysis as qa

    rows = qa.node_table(fp32_onnx)
    kind = {k: tuple(r["node"] for r in rows if r["kind"] == k) for k in ("se", "silu")}
    layouts = {"all int8": (), "SE in float": kind["se"], "SiLU in float": kind["silu"],
               "SE + SiLU in float": kind["se"] + kind["silu"]}
    files = {"fp32": Path(fp32_onnx)}
    for i, (name, nodes) in enumerate(layouts.items()):
        files[name] = qa.fast_recipe(len(calib), nodes).quantize(fp32_onnx, Path(workdir) / f"layout_{i}.onnx", calib)
    files.update(extra or {})
    runners = {k: _ort_runner(p, threads) for k, p in files.items()}
    x1 = x[:1]
    times = interleaved({k: (lambda r=r: r.run(x1)) for k, r in runners.items()}, rounds, per_round)
    ref = runners["fp32"].run(x)
    out = []
    for k, r in runners.items():
        med = statistics.median(times[k])
        out.append({"layout": k, "float_nodes": len(layouts[k]) if k in layouts else (0 if k == "fp32" else None), "images_per_s": 1 / med,
                    "speedup_vs_fp32": statistics.median(times["fp32"]) / med,
                    "sqnr_db": qa.sqnr_db(ref, r.run(x)) if k != "fp32" else float("inf")})
        r.close()
    return out


def _write_jpeg_folder(folder: Path, images, size: int):
    """A class folder of JPEGs about twice the model's input size, so decode and resize do real work."""
    from . import atomic

    (folder / "0").mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        im = im.resize((2 * size, 2 * size))
        with atomic.atomic_path(folder / "0" / f"img_{i:04d}.jpg") as tmp:
            im.save(tmp, format="JPEG", quality=90)


def format_compare(result: dict) -> str:
    ctx = result["context"]
    lines = [f"model {ctx['model']} @ {ctx['size']} px, {ctx['threads']} threads, weights: {ctx['weights']}",
             f"{'variant':44s} {'batch':>5s} {'img/s':>9s} {'p50 ms':>9s} {'p90 ms':>9s}"]
    for r in result["rows"]:
        lines.append(f"{r['name']:44s} {r['batch']:5d} {r['images_per_s']:9.1f} "
                     f"{r['latency_ms_p50']:9.2f} {r['latency_ms_p90']:9.2f}")
    lines.append(f"compute: {ctx['gflops_per_image']:.3f} GFLOP/image (fp32-equivalent); float32 matmul peak "
                 f"{ctx['peak_gflops']:.0f} GFLOP/s; achieved at batch 1: "
                 + ", ".join(f"{k} {v:.1f} GFLOP/s ({v / ctx['peak_gflops'] * 100:.0f} % of the fp32 peak)"
                             for k, v in ctx["achieved"].items())
                 + " (int8 can pass the fp32 peak: its kernels do 4x the multiply-adds per instruction)")
    for k, v in ctx.get("notes", {}).items():
        lines.append(f"{k}: {v}")
    lines.append(ctx.get("cpu", ""))
    for k, v in result["ratios"].items():
        lines.append(f"ratio {k}: {v['median']:.2f} (spread {v['min']:.2f}-{v['max']:.2f} over {v['n']} rounds)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def add_arguments(p):
    p.add_argument("--model-prefix", help="compiled model prefix (<workspace>/<name>/mod)")
    p.add_argument("--vdsp-params", help="vdsp JSON: host preprocessing is timed with each batch")
    p.add_argument("--iterations", "-i", type=int, default=20)
    p.add_argument("--instances", "-p", type=int, default=1)
    p.add_argument("--batch", "-b", type=int, default=1)
    p.add_argument("--shape", "-s", default=None, help="C,H,W (default: the model's input)")
    p.add_argument("--backend", default="ort", choices=("ort", "torch", "vsx"))
    p.add_argument("--threads", type=int, default=None, help="intra-op threads per instance")
    p.add_argument("--compare", action="store_true", help="interleaved comparison of precisions and runtimes")
    p.add_argument("--model", default="tiny", help="with --compare: model name")
    p.add_argument("--size", type=int, default=None, help="with --compare: input size")
    p.add_argument("--weights", default="auto")
    p.add_argument("--calib-dir", default=None, help="with --compare: calibration images for int8")
    p.add_argument("--val-dir", default=None, help="with --compare: images to verify the best int8 recipe on")
    p.add_argument("--quick", action="store_true", help="with --compare: a short run (proves it works)")


def _parse_shape(text):
    try:
        c, h, w = (int(v) for v in str(text).replace("[", "").replace("]", "").split(","))
    except ValueError:
        raise Effv2nbError(f"--shape must be C,H,W, got '{text}'", where="--shape") from None
    return c, h, w


def run(args) -> int:
    if args.compare:
        res = compare(args.model, args.size, quick=args.quick, threads=args.threads or 2,
                      weights=args.weights, calib_dir=args.calib_dir, eval_dir=args.val_dir)
        print(format_compare(res))
        return 0
    if not args.model_prefix:
        raise Effv2nbError("--model-prefix is required (or use --compare)", where="--model-prefix")
    for name, v in (("--iterations", args.iterations), ("--instances", args.instances), ("--batch", args.batch)):
        if v < 1:
            raise Effv2nbError(f"{name} must be at least 1", where=name)
    from . import runtime

    threads = args.threads or max(1, (os.cpu_count() or 2) // args.instances)
    runners = [runtime.open_runner(args.backend, args.model_prefix, vdsp_path=args.vdsp_params, threads=threads)
               for _ in range(args.instances)]
    shape = _parse_shape(args.shape) if args.shape else (3, *(runners[0].input_size or (224, 224)))
    if args.vdsp_params:
        runners = [_WithHostPreprocess(r, args.vdsp_params, shape) for r in runners]
    t = vamp_run(runners, args.batch, args.iterations, shape)
    print(f"config: backend {args.backend}, instances {args.instances}, batch {args.batch}, iterations "
          f"{args.iterations}, shape {list(shape)}, threads/instance {threads}"
          + (f", host vdsp preprocessing {args.vdsp_params}" if args.vdsp_params else ""))
    print(f"model: {runners[0].describe()}")
    print(f"throughput: {t.throughput:.2f} images/s")
    print(f"latency per batch (ms): p50 {t.pct(50):.2f} p90 {t.pct(90):.2f} p99 {t.pct(99):.2f}")
    return 0


class _WithHostPreprocess:
    """Adds the vdsp preprocessing of B synthetic camera frames to each batch (as vamp's device does)."""

    def __init__(self, runner, vdsp_path, shape):
        from . import preprocess

        self.runner, self.vdsp = runner, preprocess.load_vdsp(vdsp_path)
        h, w = shape[1], shape[2]
        rng = np.random.default_rng(0)
        self.frame = rng.integers(0, 256, (int(h * 1.5), int(w * 1.5), 3), dtype=np.uint8)
        self.size = h

    def run(self, x):
        from . import preprocess

        batch = np.stack([preprocess.apply(self.vdsp, self.frame, self.size) for _ in range(len(x))])
        return self.runner.run(batch)

    def describe(self):
        return self.runner.describe() + " + host vdsp preprocessing"
