"""compile: fp16 and int8 on the open stack, manifest, skip/force, atomicity, calibration (issue 4)."""
import os
import shutil
import stat

import numpy as np
import onnx
import pytest

from helpers import shipped_config

from effv2nb.compile import calibration
from effv2nb.cli import main as cli
from effv2nb.formats import build_config as config
from effv2nb.compile.build import MOD_JSON, compile_config, read_manifest
from effv2nb.compile.ort_quantize import chunk_for as _chunk_for, convert_fp16, quantize_int8
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.ort_session import ort_session
from effv2nb.core.settings import DATA_DIR

CONFIGS = DATA_DIR / "configs"
TINY_ONNX = DATA_DIR / "tiny_64.onnx"


_cfg = shipped_config


@pytest.fixture(scope="module")
def int8_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int8")
    old = os.getcwd()
    os.chdir(tmp)
    try:
        p = _cfg(tmp)
        mod = compile_config(p, progress=False)
    finally:
        os.chdir(old)
    return tmp, p, mod


def test_int8_output_and_manifest(int8_build):
    tmp, p, mod = int8_build
    assert mod == tmp / "deploy_weights" / "effv2nb_tiny_int8" / "mod.onnx" or mod.resolve() == \
        (tmp / "deploy_weights" / "effv2nb_tiny_int8" / "mod.onnx").resolve()
    man = read_manifest(mod)
    assert man["dtype"] == "int8" and man["config"]["name"] == "effv2nb_tiny_int8"
    assert man["source_model"] == "tiny"
    assert man["checkpoint_sha256"] == __import__("hashlib").sha256(TINY_ONNX.read_bytes()).hexdigest()
    files = man["calibration_files"]
    assert len(files) == calibration.QUICK_MAX_IMAGES and files == sorted(files)
    assert all(f.endswith(".png") for f in files)
    assert man["onnxruntime"] and man["effv2nb"] and man["wall_time_s"] > 0
    assert man["quantize"]["calibrate_method"] == "Percentile" and man["quantize"]["per_channel"] is True
    assert man["check_vs_fp32"]["top1_agreement"] >= 0.75
    m = onnx.load(str(mod))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Softmax"} <= ops
    out = ort_session(mod).run(None, {"input": np.zeros((2, 3, 64, 64), np.float32)})[0]
    assert out.shape == (2, 10) and np.allclose(out.sum(1), 1, atol=1e-4)   # extra_ops: softmax


def test_second_compile_skipped_then_forced(int8_build, capsys):
    tmp, p, mod = int8_build
    old = os.getcwd()
    os.chdir(tmp)
    try:
        before = read_manifest(mod)["wall_time_s"], mod.stat().st_mtime_ns
        assert compile_config(p, log=print) == mod
        assert "skipped" in capsys.readouterr().out
        assert (read_manifest(mod)["wall_time_s"], mod.stat().st_mtime_ns) == before
        assert cli.main(["compile", str(p), "--force"]) == 0
        assert "skipped" not in capsys.readouterr().out
        assert mod.stat().st_mtime_ns != before[1]
    finally:
        os.chdir(old)


def test_fp16_compile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mod = compile_config(_cfg(tmp_path, "tiny_fp16.yaml"), progress=False)
    m = onnx.load(str(mod))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in m.graph.initializer)
    man = read_manifest(mod)
    assert man["dtype"] == "fp16" and man["calibration_files"] == []
    assert man["check_vs_fp32"]["rel_l2"] < 5e-3 and man["check_vs_fp32"]["top1_agreement"] == 1.0


def test_convert_fp16_direct(tmp_path):
    out = convert_fp16(TINY_ONNX, tmp_path / "f16.onnx")
    assert ort_session(out).get_inputs()[0].type == "tensor(float)"


def test_mse_refused_clearly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _cfg(tmp_path, **{"backend.quantize.calibrate_mode": "mse"})
    with pytest.raises(Effv2nbError) as exc:
        compile_config(p, progress=False)
    assert exc.value.where == "backend.quantize.calibrate_mode" and "not supported by the open compiler" in str(exc.value)


def test_missing_checkpoint_is_error_in_compile(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    p = _cfg(tmp_path, **{"frontend.checkpoint": str(tmp_path / "none.onnx")})
    assert cli.main(["config", "check", str(p)]) == 0       # a warning for check ...
    assert cli.main(["compile", str(p)]) == 2               # ... an error for compile
    assert "frontend.checkpoint" in capsys.readouterr().err


def test_wrong_input_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _cfg(tmp_path, **{"frontend.shape": {"images": [1, 3, 64, 64]}})
    with pytest.raises(Effv2nbError, match="frontend.shape.images"):
        compile_config(p, progress=False)


def test_failed_compile_leaves_no_mod_onnx(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calib = tmp_path / "calib"
    calib.mkdir()
    for i, f in enumerate(sorted((DATA_DIR / "digits" / "calib" / "3").glob("*.png"))[:3]):
        shutil.copy(f, calib / f"a{i}.png")
    (calib / "b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    p = _cfg(tmp_path, **{"dataset.path": str(calib)})
    with pytest.raises(Effv2nbError, match="b_broken.png"):
        compile_config(p, progress=False)
    out = tmp_path / "deploy_weights" / "effv2nb_tiny_int8"
    assert not (out / "mod.onnx").exists() and not (out / MOD_JSON).exists()
    assert not [f for f in out.rglob("*")] if out.exists() else True


def test_nodes_to_exclude_honoured_and_recorded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = onnx.load(str(TINY_ONNX))
    first_conv = next(n.name for n in src.graph.node if n.op_type == "Conv")
    p = _cfg(tmp_path, **{"backend.quantize.nodes_to_exclude": [first_conv],
                          "backend.quantize.calibrate_mode": "max",
                          "dataset.sampler.get_data_num": 4})
    mod = compile_config(p, progress=False)
    assert read_manifest(mod)["quantize"]["nodes_to_exclude"] == [first_conv]
    m = onnx.load(str(mod))
    producers = {o: n for n in m.graph.node for o in n.output}
    node = next(n for n in m.graph.node if n.name == first_conv)
    # the excluded conv reads its weight directly (no DequantizeLinear in front of it)
    assert node.op_type == "Conv" and node.input[1] not in producers


def test_vamc_on_path_is_used(tmp_path, monkeypatch, capsys):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "vamc"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/vamc_args\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    p = _cfg(tmp_path)
    assert cli.main(["compile", str(p)]) == 0
    assert "running:" in capsys.readouterr().out
    assert (tmp_path / "vamc_args").read_text().split() == ["compile", str(p)]
    assert not (tmp_path / "deploy_weights").exists()


def test_pipeline_matches_manual(tmp_path):
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    f = calibration.calibration_files(cfg)[0]
    x = calibration.build_pipeline(cfg.dataset.process_ops)(f)
    from PIL import Image

    img = np.asarray(Image.open(f).convert("RGB").resize((64, 64), Image.BILINEAR), np.float32) / 255
    ref = ((img - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)).transpose(2, 0, 1)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32 and np.allclose(x, ref, atol=1e-5)
    batches = list(calibration.calibration_batches(cfg, batch_size=5))
    assert batches[0].shape == (5, 3, 64, 64) and sum(len(b) for b in batches) == calibration.data_num(cfg)


def test_ops_cvtcolor_shorter_side_and_div255(tmp_path):
    from PIL import Image

    p = tmp_path / "a.png"
    Image.fromarray(np.dstack([np.full((40, 80), v, np.uint8) for v in (10, 20, 30)])).save(p)
    fn = calibration.build_pipeline([{"type": "DecodeImage"}, {"type": "Resize", "size": 20},
                                     {"type": "CenterCrop", "crop_size": [20, 20]},
                                     {"type": "CvtColor", "code": "COLOR_RGB2BGR"},
                                     {"type": "Normalize", "mean": [0, 0, 0], "std": [1, 1, 1], "div255": False},
                                     {"type": "ToTensor"}])
    x = fn(p)
    assert x.shape == (3, 20, 20) and x[0, 0, 0] == 30 and x[2, 0, 0] == 10


def test_chunked_minmax_equals_one_pass(tmp_path):
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    files = calibration.calibration_files(cfg, limit=8)
    outs = []
    for chunk in (8, 2):
        reader = calibration.CalibrationReader(files, cfg.dataset.process_ops)
        out = quantize_int8(TINY_ONNX, tmp_path / f"q{chunk}.onnx", reader, calibrate_mode="max", chunk_size=chunk)
        outs.append({i.name: onnx.numpy_helper.to_array(i).tobytes() for i in onnx.load(str(out)).graph.initializer})
    assert outs[0] == outs[1]


def test_quantize_int8_accepts_arrays(tmp_path):
    x = [np.random.default_rng(i).standard_normal((1, 3, 64, 64), dtype=np.float32) for i in range(2)]
    x.append(np.random.default_rng(9).standard_normal((3, 64, 64), dtype=np.float32))   # CHW: batch added
    out = quantize_int8(TINY_ONNX, tmp_path / "q.onnx", x, calibrate_mode="kl_divergence", per_channel=False,
                        reduce_range=False, activation_type="uint8", weight_type="uint8")
    assert ort_session(out).run(None, {"input": x[0]})[0].shape == (1, 10)


def test_chunk_divides():
    assert _chunk_for(500, 8) == 5 and _chunk_for(16, 8) == 8 and _chunk_for(7, 8) == 7 and _chunk_for(13, 8) == 1


def test_cli_no_progress_reaches_compile(tmp_path, monkeypatch, capsys):
    """``compile --no-progress`` (notebook 04 runs it in the kernel): no calibration bar asked for."""
    from effv2nb.compile import build

    seen = []

    def fake(path, force=False, log=print, progress=True):
        seen.append((force, progress))
        return tmp_path / "w" / "n" / "mod.onnx"

    monkeypatch.setattr(build, "compile_config", fake)
    assert cli.main(["compile", "c.yaml", "--no-progress"]) == 0
    assert cli.main(["compile", "c.yaml", "--force"]) == 0
    assert seen == [(False, False), (True, True)]
    assert capsys.readouterr().out.count("model prefix: ") == 2
