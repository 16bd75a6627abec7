"""compile's int8 guard: exact vs host, reduce_range auto, on this CPU and on an emulated one without VNNI."""
import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from helpers import shipped_config
from no_vnni import run_python

from effv2nb.core import cpu
from effv2nb.quant import int8_guard
from effv2nb.compile.build import compile_config, read_manifest

# Measured on an AVX2 machine without VNNI (AMD EPYC, Zen 3), the tiny model and the shipped
# per-channel percentile config: 8-bit weights saturate the host kernels, 7-bit weights do not.
RECORDED_NO_VNNI = {False: {"exact_sqnr_db": 29.6, "host_sqnr_db": 9.8, "host_loss_db": 19.8},
                    True: {"exact_sqnr_db": 29.3, "host_sqnr_db": 29.1, "host_loss_db": 0.2}}
RECORDED_VNNI = {False: {"exact_sqnr_db": 29.65, "host_sqnr_db": 29.52, "host_loss_db": 0.13},
                 True: {"exact_sqnr_db": 27.8, "host_sqnr_db": 27.8, "host_loss_db": 0.0}}


def _measure(table, asked):
    def measure(rr):
        asked.append(rr)
        return dict(table[rr])
    return measure


def test_auto_on_a_recorded_saturation_case_keeps_7_bit_weights():
    asked, lines = [], []
    d = int8_guard.decide("auto", _measure(RECORDED_NO_VNNI, asked), lines.append, where="tiny_int8.yaml")
    assert asked == [False, True] and d["chosen"] is True and d["setting"] == "auto"
    assert len(lines) == 1 and "tiny_int8.yaml" in lines[0] and "7-bit" in lines[0]
    assert [c["reduce_range"] for c in d["candidates"]] == [False, True]


def test_auto_where_the_host_is_exact_compiles_once_and_says_nothing():
    asked, lines = [], []
    d = int8_guard.decide("auto", _measure(RECORDED_VNNI, asked), lines.append)
    assert asked == [False] and d["chosen"] is False and lines == []


def test_auto_keeps_8_bit_when_7_bit_does_not_help_the_host():
    table = {False: {"exact_sqnr_db": 30.0, "host_sqnr_db": 27.0, "host_loss_db": 3.0},
             True: {"exact_sqnr_db": 26.0, "host_sqnr_db": 26.0, "host_loss_db": 0.0}}
    d = int8_guard.decide("auto", _measure(table, []), lambda _l: None)
    assert d["chosen"] is False and len(d["candidates"]) == 2


@pytest.mark.parametrize("setting", [False, True])
def test_an_explicit_setting_is_obeyed_and_warned_about(setting):
    asked, lines = [], []
    d = int8_guard.decide(setting, _measure(RECORDED_NO_VNNI, asked), lines.append, where="cfg.yaml")
    assert asked == [setting] and d["chosen"] is setting
    if setting is False:     # saturating: one warning naming the key
        assert len(lines) == 1 and "backend.quantize.reduce_range" in lines[0] and lines[0].startswith("warning")
    else:
        assert lines == []


def test_decide_refuses_other_values():
    with pytest.raises(ValueError):
        int8_guard.decide("yes", lambda rr: {}, print)


@pytest.mark.parametrize("flags,saturates", [
    ({"avx2", "fma"}, True), ({"avx2", "avx512f"}, True), ({"avx2", "avx512f", "avx512_vnni"}, False),
    ({"avx2", "avx_vnni"}, False)])
def test_cpu_facts_from_flags(flags, saturates):
    f = cpu.facts(flags=flags, model="test CPU", machine="x86_64")
    assert cpu.u8s8_saturates(f) is saturates
    line = cpu.describe(f)
    assert "test CPU" in line and ("VNNI no" in line) is saturates and ("16 bits" in line) is saturates


def _int8_weights(path):
    m = onnx.load(str(path))
    return [numpy_helper.to_array(i) for i in m.graph.initializer if i.data_type == onnx.TensorProto.INT8]


@pytest.fixture(scope="module")
def shipped_compile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guard")
    mod = compile_config(shipped_config(tmp, **{"workspace.path": str(tmp / "ws")}), progress=False,
                         log=lambda _l: None)
    return mod, read_manifest(mod)


def test_shipped_tiny_config_holds_on_this_cpu(shipped_compile):
    mod, man = shipped_compile
    chk = man["check_vs_fp32"]
    assert chk["host_sqnr_db"] >= 25 and chk["exact_sqnr_db"] - chk["host_sqnr_db"] <= 1.5, chk
    rec = man["int8_check"]
    assert rec["decision"]["setting"] == "auto" and rec["cpu"]["line"] == cpu.describe()
    # the choice is applied to the graph, not only recorded: 7-bit weights lie in [-64, 64]
    w = np.concatenate([a.ravel() for a in _int8_weights(mod)])
    assert bool(np.abs(w.astype(int)).max() <= 64) is rec["decision"]["chosen"]
    if not cpu.u8s8_saturates():      # a host claim, asserted only where the CPU flags say it holds
        assert rec["decision"]["chosen"] is False and len(rec["decision"]["candidates"]) == 1


def test_shipped_tiny_config_on_an_emulated_cpu_without_vnni(tmp_path):
    # 8 calibration images (the shipped 300 are capped at 16 under quick): under qemu this takes ~96 s instead of ~155 s
    cfg = shipped_config(tmp_path, **{"workspace.path": str(tmp_path / "ws"), "dataset.sampler.get_data_num": 8})
    proc = run_python(["-m", "effv2nb", "compile", str(cfg), "--force"], env={"EFFV2NB_QUICK": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "reduce_range auto" in proc.stdout and "kept 7-bit" in proc.stdout, proc.stdout[-2000:]
    mod = tmp_path / "ws" / "effv2nb_tiny_int8" / "mod.onnx"
    man = json.loads(mod.with_name("mod.json").read_text())
    chk, dec = man["check_vs_fp32"], man["int8_check"]["decision"]
    assert man["int8_check"]["cpu"]["vnni"] is False and dec["chosen"] is True
    saturating = dec["candidates"][0]
    assert saturating["reduce_range"] is False and saturating["host_loss_db"] > 5, saturating
    assert chk["host_sqnr_db"] >= 25 and chk["exact_sqnr_db"] - chk["host_sqnr_db"] <= 1.5, chk
    w = np.concatenate([a.ravel() for a in _int8_weights(mod)])
    assert np.abs(w.astype(int)).max() <= 64      # 2 x 255 x 64 = 32640: no pair can saturate
