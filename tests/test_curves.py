"""curves: the int8 layouts of notebook 06 with exact and host SQNR, the SQNR images, the throughput curve
(speed is never asserted, only that each figure is measured and the accuracy columns are right)."""
import numpy as np
import pytest

from effv2nb.core import estimate
from effv2nb.bench import curves


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from helpers import tiny_int8_env

    return tiny_int8_env(tmp_path_factory.mktemp("curves"), val_limit=16, n_calib=8)


def test_exclusion_costs_rows(tiny, monkeypatch):
    monkeypatch.setattr(estimate, "MIN_WORTH_SAYING_S", 0.0)   # every estimate line, however short the step
    from effv2nb.compile.ort_quantize import convert_fp16
    from effv2nb.core.metrics import sqnr_db
    from effv2nb.quant import int8_paths

    work, fp32, ev, calib, _ = tiny
    fp16 = convert_fp16(fp32, work / "fp16.onnx")
    lines = []
    rows = curves.exclusion_costs(fp32, calib, ev.x, work / "layouts", threads=1, rounds=2, per_round=1,
                                  extra={"fp16": fp16}, reduce_range=False, log=lines.append, knobs=["K=1"])
    assert [r["layout"] for r in rows] == ["fp32", "all int8", "SE in float", "SiLU in float",
                                           "SE + SiLU in float", "fp16"]
    assert [r["precision"] for r in rows] == ["fp32"] + ["int8"] * 4 + ["fp16"]
    by = {r["layout"]: r for r in rows}
    assert by["fp32"]["sqnr_db"] == float("inf") and by["fp32"]["speedup_vs_fp32"] == 1.0
    assert by["all int8"]["float_nodes"] == 0 and by["fp16"]["float_nodes"] is None
    assert by["SE + SiLU in float"]["float_nodes"] == by["SE in float"]["float_nodes"] + by["SiLU in float"]["float_nodes"]
    assert all(r["images_per_s"] > 0 for r in rows)
    # the SQNR column is the exact path against exact fp32, recomputed here from the layout's file
    ref = int8_paths.run(fp32, ev.x, int8_paths.EXACT)
    exact = int8_paths.run(work / "layouts" / "layout_0.onnx", ev.x, int8_paths.EXACT)
    assert by["all int8"]["sqnr_db"] == pytest.approx(sqnr_db(ref, exact))
    assert by["fp16"]["sqnr_db"] > max(r["sqnr_db"] for r in rows if r["precision"] == "int8")
    assert len(lines) == 2 and all(l.startswith("estimated time for ") and "K=1" in l for l in lines), lines
    table = curves.format_costs(rows)
    assert len(table.splitlines()) == len(rows) + 1 and "exact dB" in table


def test_sqnr_inputs_are_not_the_calibration_images():
    from effv2nb.bench import variants
    from effv2nb.model import models

    model = models.load("tiny")
    x, where = curves.sqnr_inputs(model, 64, 12)
    assert x.shape == (12, 3, 64, 64) and "val" in where
    calib = variants.model_calibration_arrays(model, 64, 300)      # all tiny calibration images
    assert not any(np.array_equal(x[0], c[0]) for c in calib)
    # the stand-in crops for other models: another seed, other crops
    a = variants._calibration_images("efficientnetv2_rw_t", 3, seed=0)
    b = variants._calibration_images("efficientnetv2_rw_t", 3, seed=1)
    assert all(p.size != q.size or np.asarray(p).tobytes() != np.asarray(q).tobytes() for p, q in zip(a, b))


def test_throughput_vs_batch(tiny, monkeypatch):
    monkeypatch.setattr(estimate, "MIN_WORTH_SAYING_S", 0.0)   # every estimate line, however short the step
    work, fp32, *_ = tiny
    lines = []
    out = curves.throughput_vs_batch({"fp32": fp32}, batches=(1, 2), iterations=1, threads=1, size=64,
                                     log=lines.append)
    assert list(out) == ["fp32"] and len(out["fp32"]) == 2 and min(out["fp32"]) > 0
    assert len(lines) == 1 and "1 variant" in lines[0]
