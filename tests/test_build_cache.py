"""effv2nb.quant.build_cache: a recipe asked for twice is quantized once; anything that changes the
file (arguments, calibration arrays, the float model, the cached file itself) is quantized again."""
import os

import numpy as np
import pytest

from helpers import tiny_int8_env

from effv2nb.quant import build_cache, int8_recipes


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return tiny_int8_env(tmp_path_factory.mktemp("cache"), val_limit=20, n_calib=8)


@pytest.fixture(autouse=True)
def fresh_cache():
    build_cache.clear()
    yield
    build_cache.clear()


def _spy(monkeypatch):
    """Count the calls that reach ONNX Runtime's quantizer."""
    from effv2nb.compile import ort_quantize

    calls = []
    real = ort_quantize.quantize_int8

    def counting(*a, **kw):
        calls.append(a[1])
        return real(*a, **kw)

    monkeypatch.setattr(ort_quantize, "quantize_int8", counting)
    return calls


def test_same_arguments_are_quantized_once(env, tmp_path, monkeypatch):
    work, fp32, ev, calib, ref = env
    calls = _spy(monkeypatch)
    a = int8_recipes.Recipe("a", "max", per_channel=True, num_calib=8)
    b = a.replace(name="same arguments, another name", note="n")
    assert not b.is_built(fp32, calib)
    pa = a.quantize(fp32, tmp_path / "a.onnx", calib)
    assert b.is_built(fp32, calib)
    pb = b.quantize(fp32, tmp_path / "b.onnx", calib)
    assert len(calls) == 1
    assert pa.read_bytes() == pb.read_bytes()
    assert build_cache.seconds(pb) == build_cache.seconds(pa) > 0


def test_what_changes_the_file_is_quantized_again(env, tmp_path, monkeypatch):
    work, fp32, ev, calib, ref = env
    calls = _spy(monkeypatch)
    a = int8_recipes.Recipe("a", "max", per_channel=True, num_calib=8)
    a.quantize(fp32, tmp_path / "a.onnx", calib)
    a.replace(per_channel=False).quantize(fp32, tmp_path / "pt.onnx", calib)
    a.replace(nodes_to_exclude=("/conv_stem/Conv",)).quantize(fp32, tmp_path / "ex.onnx", calib)
    a.replace(calibrate_mode="percentile", percentile=99.9).quantize(fp32, tmp_path / "p999.onnx", calib)
    other = [np.ascontiguousarray(c[:, :, ::-1]) for c in calib]      # same shapes, other pixels
    a.quantize(fp32, tmp_path / "other_calib.onnx", other)
    assert len(calls) == 5
    # ORT's default percentile is the same file as naming it
    a.replace(calibrate_mode="percentile").quantize(fp32, tmp_path / "pdef.onnx", calib)
    a.replace(calibrate_mode="percentile", percentile=99.999).quantize(fp32, tmp_path / "p99999.onnx", calib)
    assert len(calls) == 6
    # nodes kept in float: their order does not matter
    two = ("/conv_stem/Conv", "/conv_head/Conv")
    a.replace(nodes_to_exclude=two).quantize(fp32, tmp_path / "two.onnx", calib)
    a.replace(nodes_to_exclude=two[::-1]).quantize(fp32, tmp_path / "two_rev.onnx", calib)
    assert len(calls) == 7


def test_a_changed_file_is_not_handed_out(env, tmp_path, monkeypatch):
    work, fp32, ev, calib, ref = env
    calls = _spy(monkeypatch)
    a = int8_recipes.Recipe("a", "max", per_channel=True, num_calib=8)
    pa = a.quantize(fp32, tmp_path / "a.onnx", calib)
    pa.write_bytes(pa.read_bytes() + b"\0")                 # written over after the build
    assert not a.is_built(fp32, calib)
    a.quantize(fp32, tmp_path / "b.onnx", calib)
    assert len(calls) == 2
    pa.unlink()
    st = os.stat(fp32)
    os.utime(fp32, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))   # the float model changed
    assert not a.is_built(fp32, calib)


def test_auto_copy_keeps_the_decision_and_serves_its_chosen_width(env, tmp_path, monkeypatch):
    work, fp32, ev, calib, ref = env
    calls = _spy(monkeypatch)
    auto = int8_recipes.Recipe("auto", "max", per_channel=True, reduce_range="auto", num_calib=8)
    p1 = auto.quantize(fp32, tmp_path / "auto1.onnx", calib)
    n = len(calls)
    p2 = auto.replace(name="again").quantize(fp32, tmp_path / "auto2.onnx", calib)
    assert len(calls) == n and p1.read_bytes() == p2.read_bytes()
    chosen = int8_recipes.chosen_reduce_range(p2)
    assert chosen == int8_recipes.chosen_reduce_range(p1) in (True, False)
    fixed = auto.replace(reduce_range=chosen)        # the width auto chose, asked for by name
    assert fixed.is_built(fp32, calib)
    p3 = fixed.quantize(fp32, tmp_path / "fixed.onnx", calib)
    assert len(calls) == n and p3.read_bytes() == p1.read_bytes()
    assert not p3.with_suffix(".json").exists(), "a fixed-width copy carries no auto decision"
