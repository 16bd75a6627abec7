"""``python -m effv2nb int8-report``: the suite's int8 recipes and NNCF's, side by side, on a test fold.

Serves notebook 05 (its side-by-side table and bar chart) and the command line. On one split of the
images (``effv2nb.data.folds``: calibration, selection and test never share an image) it builds:

- ``stock``: every op ONNX Runtime quantizes, MinMax ranges, per-tensor 8-bit weights;
- ``nncf``: ``nncf.quantize`` with its defaults, on the same calibration images (``effv2nb.quant.nncf_ptq``);
- ``best_int8``: the suite's best recipe with every quantizable op in int8, chosen on the selection fold
  among calibrate modes and percentiles (per-channel weights, ``reduce_range: auto``);
- ``best``: ``best_int8`` with the greedy float fallback (``int8_search.greedy_fallback``) on the
  selection fold, until the exact SQNR reaches the target and the host SQNR the target less 1 dB;
- ``nncf_ac`` (optional): NNCF's accuracy-control variant asked to lose nothing (``max_drop`` 0) on the
  selection fold.

Each is then scored once on the test fold, on the exact path (the QDQ arithmetic as written, the suite's model of the accelerator: SQNR,
agreement, top-1) and on this CPU's kernels (host SQNR, images/s); ``float_rows`` gives fp32 and fp16
on the same fold. ``prepare`` takes the input size (notebook 05: ``EFFV2NB_SIZE``); the search's knobs
are ``effv2nb.quant.study_knobs``; each long step can print its estimated time first. One line per recipe:
``recipe: NAME exact_sqnr_db: X host_sqnr_db: Y agreement: Z top1: T images_per_s: S compile_s: C``.
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from effv2nb.core import cpu
from effv2nb.core.estimate import Estimate
from effv2nb.formats.vdsp import generate_vdsp
from effv2nb.data import folds
from effv2nb.quant import build_cache, eval_sets, int8_search, onnx_eval
from effv2nb.core.errors import Effv2nbError
from effv2nb.quant.int8_recipes import Recipe, stock_recipe
from effv2nb.core.settings import DIGITS_DIR, sized

TARGET_SQNR_DB, TARGET_AGREE, SEARCH_MARGIN_DB = 30.0, 99.5, 1.0
CALIBRATE_ON_TEST_ENV = "EFFV2NB_CALIBRATE_ON_TEST"


@dataclass
class Study:
    """Everything one int8 study shares: the folds, their preprocessed images, the fp32 model and its
    logits, the calibration arrays, and what has been built (``built[name] = (path, seconds)``)."""

    model: str
    split: folds.Split
    sel: object                  # eval_sets.EvalSet of the selection fold
    test: object                 # eval_sets.EvalSet of the test fold
    test_samples: list
    calib: list
    fp32: Path
    ref_sel: object
    ref_test: object
    work: Path
    quick: bool = False
    size: int = 0                # the input size the folds were preprocessed and fp32 exported at
    built: dict = field(default_factory=dict)
    choices: dict = field(default_factory=dict)
    cpu_line: str = ""


@dataclass
class Report:
    """The test-fold rows of a ``Study`` (one per recipe) and how ``best`` was chosen."""

    model: str
    split: folds.Split
    rows: list = field(default_factory=list)
    choices: dict = field(default_factory=dict)
    cpu_line: str = ""

    def row(self, name):
        return next(r for r in self.rows if r["recipe"] == name)

    def lines(self, cpu: bool = True) -> list:
        """The report as ``int8-report`` prints it; ``cpu=False`` leaves out the CPU line (a notebook
        prints it once, at its top)."""
        out = [self.split.line()] + ([self.cpu_line] if cpu else [])
        for r in self.rows:
            out.append(f"recipe: {r['recipe']} exact_sqnr_db: {r['sqnr_db']:.2f} host_sqnr_db: {r['host_sqnr_db']:.2f} "
                       f"agreement: {r['agree_fp32']:.2f} top1: {r['top1']:.2f} "
                       f"images_per_s: {r['images_per_s']:.1f} compile_s: {r['compile_s']:.1f}")
        return out


def default_dirs(model_name: str, val_dir=None, calib_dir=None):
    """(val_dir, calib_dir): the digits' val/ and calib/ for tiny; ImageNet models need ``val_dir``."""
    if model_name == "tiny":
        return (val_dir or DIGITS_DIR / "val"), (calib_dir or (None if val_dir else DIGITS_DIR / "calib"))
    if not val_dir:
        raise Effv2nbError(f"{model_name} needs images to report on: --val-dir DIR/<synset>/<image> "
                           "(ImageNet validation layout)", where="--val-dir")
    return val_dir, calib_dir


def _timed(make):
    """(path, seconds) of a build; a copy of an earlier build reports that build's time (``build_cache``)."""
    t = time.perf_counter()
    path = make()
    return path, build_cache.seconds(path, time.perf_counter() - t)


def prepare(model_name: str, val_dir=None, calib_dir=None, quick: bool = False, workdir=None, weights="auto",
            num_calib: int | None = None, allow_test_calibration=None, model=None, vdsp=None, labels=None,
            limit: int | None = None, size: int | None = None, log=print) -> Study:
    """Split the images, preprocess the folds, export fp32 and score it: the common start of every recipe.

    ``model`` / ``vdsp`` / ``labels`` override the model's own (a notebook passes what it loaded).
    ``limit``: use an even spread of at most that many selection and test images (under
    ``EFFV2NB_QUICK`` 100 when not given). ``size``: the input size (default the model's own; notebook 05
    passes ``settings.image_size``): the export, the folds' preprocessing and a generated vdsp use it.
    """
    from effv2nb.model import models
    from effv2nb.device import preprocess
    from effv2nb.export.onnx_export import export_onnx

    val_dir, calib_dir = default_dirs(model_name, val_dir, calib_dir)
    if allow_test_calibration is None:
        allow_test_calibration = os.environ.get(CALIBRATE_ON_TEST_ENV, "") == "1"
    model = model if model is not None else models.load(model_name, weights=weights)
    info = models.info(model)
    labels = labels or info.labels()
    split = folds.make_split(val_dir, labels, calib_dir, allow_test_calibration=allow_test_calibration,
                             skip_unknown=True)
    log(split.line())
    work = Path(workdir or tempfile.mkdtemp(prefix="effv2nb-int8-"))
    work.mkdir(parents=True, exist_ok=True)
    size = int(size or info.input_size)
    vdsp = vdsp or generate_vdsp(model, size)
    limit = limit or sized(None, 100)
    test_samples = folds.spread(split["test"], limit)
    sel = eval_sets.eval_set_from_samples(folds.spread(split["selection"], limit), vdsp, size)
    test = eval_sets.eval_set_from_samples(test_samples, vdsp, size)
    n = int(num_calib or min(len(split["calibration"]), sized(300, 64 if quick else 100)))
    calib = eval_sets.arrays_from_files(folds.spread([s.path for s in split["calibration"]], n), vdsp, size)
    fp32 = export_onnx(model, work / f"{model_name}_fp32.onnx", size=size)
    return Study(model_name, split, sel, test, test_samples, calib, fp32, onnx_eval.ort_run(fp32, sel),
                 onnx_eval.ort_run(fp32, test), work, quick, size=size, cpu_line=cpu.describe())


def candidates(n: int, quick: bool) -> list:
    """All-int8 recipes the selection fold chooses among (per-channel weights, reduce_range auto)."""
    base = Recipe("all int8, max, per-channel", "max", per_channel=True, reduce_range="auto", num_calib=n)
    pcts = (99.999,) if quick else (99.99, 99.999)
    return [base, *[base.replace(name=f"all int8, percentile {p}, per-channel", calibrate_mode="percentile",
                                 percentile=p) for p in pcts]]


def choose_best_int8(st: Study, log=print) -> Recipe:
    """The all-int8 candidate with the best selection-fold SQNR (exact, and host within 1 dB of it)."""
    scored = []
    for i, r in enumerate(candidates(len(st.calib), st.quick)):
        p, secs = _timed(lambda r=r, i=i: r.quantize(st.fp32, st.work / f"cand_{i}.onnx", st.calib, log=log))
        row = onnx_eval.evaluate_onnx(p, st.sel, st.ref_sel, speed=False, name=r.name)
        scored.append((min(row["sqnr_db"], row["host_sqnr_db"] + SEARCH_MARGIN_DB), r, p, secs))
    _, best, path, secs = max(scored, key=lambda t: t[0])
    st.built["best_int8"] = (path, secs)
    st.choices["best_int8"] = {"recipe": best, "selection_sqnr_db": {r.name: round(float(s), 2)
                                                                     for s, r, _, _ in scored}}
    return best


def choose_best(st: Study, base: Recipe | None = None, progress: bool = True, knobs=None, log=print):
    """Greedy float fallback from ``base`` (default: the chosen ``best_int8``) on the selection fold.

    The ranking's groups and the step budget come from ``study_knobs`` (``EFFV2NB_SEARCH_GROUPS``,
    ``EFFV2NB_SEARCH_STEPS``). ``knobs``: a dict ``{"sensitivity": [...], "greedy": [...]}`` of knob
    lines; each step then prints its estimated time first (``effv2nb.core.estimate``).
    """
    from effv2nb.quant import study_knobs
    from effv2nb.quant.graph_kinds import groups, node_table

    base = base or st.choices["best_int8"]["recipe"]
    gm = groups(node_table(st.fp32), study_knobs.search_groups())
    t = time.perf_counter()
    sens = int8_search.sensitivity(st.fp32, base, st.calib, st.sel, st.ref_sel, st.work / "sens", gm,
                                   progress=progress, num_calib=min(len(st.calib), 50),
                                   knobs=(knobs or {}).get("sensitivity"), log=log)
    search = int8_search.greedy_fallback(st.fp32, base, st.calib, st.sel, st.ref_sel, st.work / "greedy",
                                target_sqnr=TARGET_SQNR_DB + SEARCH_MARGIN_DB, target_agree=TARGET_AGREE,
                                max_steps=study_knobs.search_steps(), sens=sens, group_map=gm, progress=progress,
                                knobs=(knobs or {}).get("greedy"), log=log)
    search_s = time.perf_counter() - t
    st.built["best"] = _timed(lambda: search.recipe.quantize(st.fp32, st.work / "best.onnx", st.calib))
    st.choices["best"] = {"recipe": search.recipe, "kept_float": search.kept_float, "sensitivity": sens,
                          "nodes_to_exclude": len(search.nodes_to_exclude), "search_s": round(search_s, 1),
                          "met_on_selection": search.met, "steps": search.steps}
    return search


def build_peers(st: Study, with_nncf_ac: bool = True, knobs=None, log=print):
    """stock, NNCF's default and (optionally) NNCF's accuracy control asked to lose nothing on selection.

    With ``knobs`` (a list, even empty) one line estimates the time of the peers not built yet.
    """
    from effv2nb.quant import nncf_ptq

    stock = stock_recipe(len(st.calib))
    jobs = [("stock", lambda: stock.quantize(st.fp32, st.work / "stock.onnx", st.calib),
             stock.is_built(st.fp32, st.calib)),
            ("nncf", lambda: nncf_ptq.quantize_nncf(st.fp32, st.work / "nncf.onnx", st.calib), False)]
    if with_nncf_ac:
        jobs.append(("nncf_ac", lambda: nncf_ptq.quantize_nncf_ac(
            st.fp32, st.work / "nncf_ac.onnx", st.calib, st.sel.x, st.ref_sel, max_drop=0.0), False))
    n_fresh = sum(not built for _, _, built in jobs)
    est = Estimate("the peers", n_fresh, "model", knobs, log=log) if knobs is not None and n_fresh else None
    fresh = 0
    for name, make, built in jobs:
        with est.timing(fresh) if est and not built else nullcontext():
            st.built[name] = _timed(make)
        fresh += not built


ORDER = ("stock", "nncf", "best_int8", "best", "nncf_ac")


def score(st: Study, knobs=None, log=print, cluster=None) -> Report:
    """Every built recipe, once, on the test fold: exact (accuracy, SQNR) and host (SQNR, images/s).

    With ``knobs`` (a list, even empty) one line estimates the time of scoring them all. ``cluster``:
    ``local:N``, ``tcp://HOST:PORT`` or an open ``effv2nb.cluster.connect.Cluster`` (default
    ``EFFV2NB_CLUSTER``; none: here, in memory): the test fold is then scored shard by shard on
    the cluster's workers (``effv2nb.cluster.score_tasks``), with the same figures.
    """
    from effv2nb.cluster import connect

    spec = cluster if not isinstance(cluster, (str, type(None))) else connect.spec_from(cluster)
    report = Report(st.model, st.split, choices=st.choices, cpu_line=st.cpu_line)
    names = sorted(st.built, key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER))
    est = Estimate("scoring on the test fold", len(names), "model", knobs, log=log) if knobs is not None else None
    opened = connect.open_cluster(spec) if isinstance(spec, str) else spec
    try:
        if opened is not None:
            log(opened.describe() + (f"; dashboard {opened.dashboard}" if opened.dashboard else ""))
        for i, name in enumerate(names):
            path, secs = st.built[name]
            with est.timing(i) if est else nullcontext():
                row = onnx_eval.evaluate_onnx(path, st.test, st.ref_test, name=name) if opened is None else \
                    _score_sharded(opened, st, path, name)
            row["host_pred"] = row.pop("host_logits").argmax(1) if "host_logits" in row else row.pop("host_pred")
            row.pop("logits", None)
            row.update(recipe=name, compile_s=secs)
            report.rows.append(row)
    finally:
        if opened is not None and opened is not spec:
            opened.close()
    return report


def _score_sharded(cluster, st: Study, path, name: str) -> dict:
    """``evaluate_onnx``'s row for one model, its sums computed on the cluster (speed measured here)."""
    import numpy as np

    from effv2nb.cluster.score_tasks import score_on_cluster

    exact, host = score_on_cluster(cluster, path, st.fp32, st.test_samples, st.test.op, st.size)
    row = {"model": name, **exact.rates(), **host.rates("host_"), "size_mb": Path(path).stat().st_size / 1e6,
           "images_per_s": onnx_eval.images_per_s(path, st.test), "path": str(path),
           "host_pred": np.asarray(host.pred)}
    return row


def float_rows(st: Study, fp16_onnx=None) -> list:
    """fp32 (and fp16, when its file is given) on the test fold, as rows like ``score``'s (exact =
    host for a float model): the float bars next to the int8 recipes'."""
    from effv2nb.core.metrics import topk_rates

    rows = []
    for name, path in (("fp32", st.fp32), ("fp16", fp16_onnx)):
        if path is None:
            continue
        logits = st.ref_test if name == "fp32" else onnx_eval.ort_run(path, st.test)
        top1, top5 = topk_rates(logits, st.test.y)
        rows.append({"recipe": name, "top1": top1, "top5": top5, "host_top1": top1, "host_top5": top5})
    return rows


def run(model_name: str, val_dir=None, calib_dir=None, quick: bool = False, workdir=None, weights="auto",
        num_calib: int | None = None, with_nncf_ac: bool | None = None, allow_test_calibration=None,
        log=print, progress: bool = True, cluster=None) -> Report:
    """The whole report (``python -m effv2nb int8-report``): prepare, choose on selection, score on test
    (on ``cluster`` when given: see ``score``)."""
    st = prepare(model_name, val_dir, calib_dir, quick, workdir, weights, num_calib, allow_test_calibration,
                 log=log)
    build_peers(st, with_nncf_ac=(model_name == "tiny") if with_nncf_ac is None else with_nncf_ac)
    choose_best_int8(st, log=log)
    choose_best(st, progress=progress)
    return score(st, cluster=cluster, log=log)
