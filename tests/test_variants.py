"""variants: the comparison runs the model instance it is given (PyTorch eager and every export are that
model, not a second load), and the project's int8 target is quoted only where it applies."""
import numpy as np
import pytest
import torch

from effv2nb.core import estimate
from effv2nb.bench import variants
from effv2nb.model import models


def test_compare_uses_the_given_instance(tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "MIN_WORTH_SAYING_S", 0.0)   # every estimate line, however short the step
    model = models.load("tiny")
    with torch.no_grad():
        model.classifier.bias += torch.arange(10, dtype=torch.float32)     # unlike any fresh load of tiny
    lines = []
    res = variants.compare_variants(model=model, quick=True, threads=1, workdir=tmp_path, rounds=2,
                                    pipeline_images=8, log=lines.append, knobs=["K"])
    from effv2nb.quant.int8_paths import run

    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        mine = model(torch.from_numpy(x)).numpy()
        fresh = models.load("tiny")(torch.from_numpy(x)).numpy()
    onnx_out = run(res["files"]["ort_fp32"], x)
    assert np.allclose(onnx_out, mine, atol=1e-4) and not np.allclose(onnx_out, fresh, atol=1e-2)
    assert res["context"]["model"] == "tiny" and res["context"]["rounds"] == 2
    assert res["ratios"]["ort_fp32/torch_eager"]["n"] == 2
    assert sum(l.startswith("estimated time for ") for l in lines) == 3, lines     # build, timing, pipeline
    # one table of record: every row with its spread over the rounds, no empty columns; ratios with every round
    for r in res["rows"] + res["pipeline"]:
        assert r["images_per_s_min"] <= r["images_per_s"] <= r["images_per_s_max"], r
    assert len(res["ratios"]["ort_int8/ort_fp32"]["values"]) == 2
    table = variants.format_compare(res)
    assert "nan" not in table and "per round: " in table and "pipeline_async" in table
    # the graph check: the speed-aware recipe's convolutions all on integer kernels, bar those kept in float
    from effv2nb.quant.int8_kernels import unfused_convs

    best = res["context"]["kernels"]["ort_int8_best"]
    assert best["convs"]["total"] == 36 and unfused_convs(best, best["nodes_to_exclude"]) == []
    assert "ort_int8_best on this CPU (ORT's optimized graph): " in table


def test_name_and_instance_must_agree():
    with pytest.raises(ValueError, match="tiny"):
        variants.compare_variants("efficientnetv2_rw_t", model=models.load("tiny"))


def _result(model, size, median):
    return {"context": {"model": model, "size": size},
            "ratios": {"ort_int8/ort_fp32": {"median": median, "min": median - 0.1, "max": median + 0.1, "n": 3}}}


def test_target_line():
    t = variants.INT8_SPEEDUP_TARGETS
    assert "not comparable" in variants.target_line(_result("tiny", 64, 1.2), "vnni")
    assert variants.target_line(_result(t["model"], t["size"], t["vnni"] + 0.1), "vnni").endswith("met in this run")
    assert variants.target_line(_result(t["model"], t["size"], t["vnni"] - 0.1), "vnni").endswith("not met in this run")
    assert variants.target_line(_result(t["model"], t["size"], 1.3), "avx2-no-vnni").endswith(" met in this run")
    assert "none for CPU kind 'other'" in variants.target_line(_result(t["model"], t["size"], 1.3), "other")
