"""``python -m effv2nb int8-report``: the suite's int8 recipes and NNCF's, side by side, on a test fold.

Serves notebook 05 (its side-by-side table and bar chart) and the command line. On one split of the
images (``effv2nb.folds``: calibration, selection and test never share an image) it builds:

- ``stock``: every op ONNX Runtime quantizes, MinMax ranges, per-tensor 8-bit weights;
- ``nncf``: ``nncf.quantize`` with its defaults, on the same calibration images (``effv2nb.nncf_ptq``);
- ``best_int8``: the suite's best recipe with every quantizable op in int8, chosen on the selection fold
  among calibrate modes and percentiles (per-channel weights, ``reduce_range: auto``);
- ``best``: ``best_int8`` with the greedy float fallback (``quant_analysis.greedy_fallback``) on the
  selection fold, until the exact SQNR reaches the target and the host SQNR the target less 1 dB;
- ``nncf_ac`` (optional): NNCF's accuracy-control variant, validated on the selection fold.

Each is then scored once on the test fold, on the exact path (the accelerator's arithmetic: SQNR,
agreement, top-1) and on this CPU's kernels (host SQNR, images/s). One line per recipe:
``recipe: NAME exact_sqnr_db: X host_sqnr_db: Y agreement: Z top1: T images_per_s: S compile_s: C``.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cpu, folds
from . import quant_analysis as qa
from .errors import Effv2nbError
from .int8_recipes import Recipe, stock_recipe
from .settings import DIGITS_DIR, sized

TARGET_SQNR_DB, TARGET_AGREE, SEARCH_MARGIN_DB = 30.0, 99.5, 1.0
CALIBRATE_ON_TEST_ENV = "EFFV2NB_CALIBRATE_ON_TEST"


@dataclass
class Report:
    """What ``run`` measured: the split, one row per recipe (test fold), and how ``best`` was chosen."""

    model: str
    split: folds.Split
    rows: list = field(default_factory=list)
    choices: dict = field(default_factory=dict)
    cpu_line: str = ""

    def row(self, name):
        return next(r for r in self.rows if r["recipe"] == name)

    def lines(self) -> list:
        out = [self.split.line(), self.cpu_line]
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


def _timed_quantize(make):
    t = time.perf_counter()
    path = make()
    return path, time.perf_counter() - t


def _candidates(n: int, quick: bool) -> list:
    """All-int8 recipes the selection fold chooses among (per-channel weights, reduce_range auto)."""
    base = Recipe("all int8, max, per-channel", "max", per_channel=True, reduce_range="auto", num_calib=n)
    pcts = (99.999,) if quick else (99.99, 99.999)
    return [base, *[base.replace(name=f"all int8, percentile {p}, per-channel", calibrate_mode="percentile",
                                 percentile=p) for p in pcts]]


def run(model_name: str, val_dir=None, calib_dir=None, quick: bool = False, workdir=None, weights="auto",
        num_calib: int | None = None, with_nncf_ac: bool | None = None, allow_test_calibration=None,
        log=print, progress: bool = True) -> Report:
    """Build, choose and score the recipes; see the module docstring. ``workdir`` keeps the models."""
    from . import models, preprocess
    from .export import export_onnx

    val_dir, calib_dir = default_dirs(model_name, val_dir, calib_dir)
    if allow_test_calibration is None:
        allow_test_calibration = os.environ.get(CALIBRATE_ON_TEST_ENV, "") == "1"
    model = models.load(model_name, weights=weights)
    info = models.info(model)
    labels = info.labels()
    split = folds.make_split(val_dir, labels, calib_dir, allow_test_calibration=allow_test_calibration,
                             skip_unknown=True)
    log(split.line())
    work = Path(workdir or tempfile.mkdtemp(prefix="effv2nb-int8-report-"))
    work.mkdir(parents=True, exist_ok=True)
    vdsp = preprocess.vdsp_for_model(model)
    size = info.input_size
    limit = sized(None, 100)
    sel = qa.eval_set_from_samples(folds.spread(split["selection"], limit), vdsp, size)
    test = qa.eval_set_from_samples(folds.spread(split["test"], limit), vdsp, size)
    n = int(num_calib or min(len(split["calibration"]), sized(300, 64 if quick else 100)))
    calib = qa.arrays_from_files(folds.spread([s.path for s in split["calibration"]], n), vdsp, size)
    fp32 = export_onnx(model, work / f"{model_name}_fp32.onnx", size=size)
    ref_sel, ref_test = qa.ort_run(fp32, sel), qa.ort_run(fp32, test)
    report = Report(model_name, split, cpu_line=cpu.describe())
    built = {}

    built["stock"] = _timed_quantize(lambda: stock_recipe(len(calib)).quantize(fp32, work / "stock.onnx", calib))
    built["nncf"] = _timed_quantize(lambda: _nncf().quantize_nncf(fp32, work / "nncf.onnx", calib))

    # best_int8: every quantizable op in int8; the selection fold picks the calibration
    cands = _candidates(len(calib), quick)
    scored = []
    for i, r in enumerate(cands):
        p, secs = _timed_quantize(lambda r=r, i=i: r.quantize(fp32, work / f"cand_{i}.onnx", calib, log=log))
        row = qa.evaluate_onnx(p, sel, ref_sel, speed=False, name=r.name)
        scored.append((min(row["sqnr_db"], row["host_sqnr_db"] + SEARCH_MARGIN_DB), r, p, secs))
    _, best_int8, best_int8_path, secs = max(scored, key=lambda t: t[0])
    built["best_int8"] = (best_int8_path, secs)
    report.choices["best_int8"] = {"recipe": best_int8.name,
                                   "selection_sqnr_db": {r.name: round(float(s), 2) for s, r, _, _ in scored}}

    # best: greedy float fallback on the selection fold
    t = time.perf_counter()
    sens = qa.sensitivity(fp32, best_int8, calib, sel, ref_sel, work / "sens", progress=progress,
                          num_calib=min(len(calib), 50))
    search = qa.greedy_fallback(fp32, best_int8, calib, sel, ref_sel, work / "greedy",
                                target_sqnr=TARGET_SQNR_DB + SEARCH_MARGIN_DB, target_agree=TARGET_AGREE,
                                max_steps=3 if quick else 6, sens=sens, progress=progress)
    search_s = time.perf_counter() - t
    best_path, best_s = _timed_quantize(lambda: search.recipe.quantize(fp32, work / "best.onnx", calib))
    built["best"] = (best_path, best_s)
    report.choices["best"] = {"recipe": search.recipe, "kept_float": search.kept_float,
                              "nodes_to_exclude": len(search.nodes_to_exclude), "search_s": round(search_s, 1),
                              "met_on_selection": search.met, "steps": search.steps}

    if with_nncf_ac is None:
        with_nncf_ac = model_name == "tiny"
    if with_nncf_ac:
        built["nncf_ac"] = _timed_quantize(lambda: _nncf().quantize_nncf_ac(
            fp32, work / "nncf_ac.onnx", calib, sel.x, ref_sel))

    for name, (path, secs) in built.items():
        row = qa.evaluate_onnx(path, test, ref_test, name=name)
        for k in ("logits", "host_logits"):
            row.pop(k, None)
        row.update(recipe=name, compile_s=secs)
        report.rows.append(row)
    return report


def _nncf():
    from . import nncf_ptq

    return nncf_ptq
