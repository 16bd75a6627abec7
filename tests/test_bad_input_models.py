"""Issue 7, models: hostile or wrong checkpoints and ONNX files, through the commands users run.

``models.load`` itself is tested in test_models.py (malicious pickle, truncated safetensors, other
architecture); here the same files reach the CLI (``infer --backend torch``, ``export``) and
``EFFV2NB_WEIGHTS``, and broken ONNX files reach ``compile`` and ``infer``.
"""
import os
import pickle

import pytest
import torch
import yaml
from safetensors.torch import save_file

from effv2nb.formats import build_config as config
from effv2nb.model import models
from effv2nb.cli.main import main
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR

VDSP = DATA_DIR / "configs" / "tiny-vdsp_params.json"
IMG = next((DIGITS_DIR / "val" / "6").iterdir())


class _Evil:
    marker = None

    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def _evil(tmp_path):
    _Evil.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Evil()}, f)
    return path


def _truncated_safetensors(tmp_path):
    state = models.load("tiny", weights="random").state_dict()
    path = tmp_path / "cut.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    path.write_bytes(path.read_bytes()[:5000])
    return path


def _other_arch(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3), "fc.weight": torch.zeros(10, 4)}, path)
    return path


def _not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are my notes, not weights")
    return path


CHECKPOINTS = {
    "code_on_unpickle": (_evil, "refused"),
    "truncated_safetensors": (_truncated_safetensors, "safetensors"),
    "other_architecture": (_other_arch, "does not fit model 'tiny'"),
    "text_named_pth": (_not_a_checkpoint, "refused"),
}


@pytest.mark.parametrize("case", CHECKPOINTS)
@pytest.mark.parametrize("route", ["infer_torch", "export", "env"])
def test_bad_checkpoint_through_cli(case, route, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make, needle = CHECKPOINTS[case]
    ckpt = make(tmp_path)
    if route == "infer_torch":
        argv = ["infer", "--file-path", str(IMG), "--model-prefix", f"torch:tiny@{ckpt}", "--vdsp-params",
                str(VDSP), "--backend", "torch", "--save-dir", str(tmp_path / "out"), "--no-progress"]
    elif route == "export":
        argv = ["export", "--model", "tiny", "--weights", str(ckpt), "--save-dir", str(tmp_path / "out")]
    else:
        monkeypatch.setenv(models.WEIGHTS_ENV, str(ckpt))
        argv = ["export", "--model", "tiny", "--save-dir", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {ckpt}: ") and needle in err, err
    assert not (tmp_path / "pwned").exists(), "the checkpoint's code ran"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---------------------------------------------------------------- ONNX files that are not ONNX
NOT_ONNX = {
    "text": b"this is not an onnx model\n",
    "empty": b"",
    "jpeg_bytes": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
    "truncated_onnx": None,   # the first half of a real model
}


def _not_onnx(tmp_path, case):
    p = tmp_path / "model.onnx"
    data = NOT_ONNX[case]
    p.write_bytes((DATA_DIR / "tiny_64.onnx").read_bytes()[:20000] if data is None else data)
    return p


@pytest.mark.parametrize("case", NOT_ONNX)
def test_not_onnx_in_compile(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = _not_onnx(tmp_path, case)
    cfg, _ = config.load_build_config(DATA_DIR / "configs" / "tiny_fp16.yaml")
    raw = config.rebase_paths(cfg.to_dict(), DATA_DIR / "configs", tmp_path)
    raw["frontend"]["checkpoint"] = str(ck)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["compile", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {p}: frontend.checkpoint: ") and err.count("\n") == 1, err
    assert not (tmp_path / "deploy_weights").exists() or not list((tmp_path / "deploy_weights").rglob("*.onnx"))


@pytest.mark.parametrize("case", NOT_ONNX)
def test_not_onnx_in_infer(case, tmp_path, capsys):
    ck = _not_onnx(tmp_path, case)
    assert main(["infer", "--file-path", str(IMG), "--model-prefix", str(ck.with_suffix("")), "--vdsp-params",
                 str(VDSP), "--save-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {ck}: ") and err.count("\n") == 1, err
    assert not (tmp_path / "out" / "result.txt").exists()


def _tiny_fp16_at(tmp_path, shape):
    cfg, _ = config.load_build_config(DATA_DIR / "configs" / "tiny_fp16.yaml")
    raw = config.rebase_paths(cfg.to_dict(), DATA_DIR / "configs", tmp_path)
    raw["frontend"]["shape"]["input"] = shape
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def test_onnx_channels_differ_from_build_shape(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _tiny_fp16_at(tmp_path, [1, 4, 64, 64])
    assert main(["compile", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}: frontend.shape.input: " in err and "channels" in err and err.count("\n") == 1


def test_export_at_another_size_compiles_at_the_build_shape(tmp_path, capsys, monkeypatch):
    """The vendor's page exports at 224 and compiles a 288 YAML: the compiled model takes the YAML's size."""
    import numpy as np
    import onnx

    from effv2nb.device.runtime import OrtRunner

    monkeypatch.chdir(tmp_path)
    p = _tiny_fp16_at(tmp_path, [1, 3, 72, 72])
    assert main(["compile", str(p), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "compiling it at frontend.shape's 72x72" in out, out
    mod = next(tmp_path.rglob("mod.onnx"))
    dims = [d.dim_value or d.dim_param for d in onnx.load(str(mod)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 72, 72]
    r = OrtRunner(mod)
    assert r.input_size == (72, 72) and r.run(np.zeros((2, 3, 72, 72), np.float32)).shape == (2, 10)
    assert not list(tmp_path.rglob("*x72.onnx"))                # the resized export was a scratch file


def test_onnx_input_size_differs_from_vdsp_output(tmp_path, capsys):
    """The tiny ONNX takes 64x64; a vdsp file made for 96x96 is refused before any image is read."""
    from effv2nb.formats import vdsp

    v = tmp_path / "tiny96.json"
    vdsp.save_vdsp(vdsp.generate_vdsp("tiny", size=96), v)
    assert main(["infer", "--file-path", str(DIGITS_DIR / "val" / "6"), "--model-prefix", str(DATA_DIR / "tiny_64"),
                 "--vdsp-params", str(v), "--save-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {v}: OpConfig.OimageWidth: ") and "96x96" in err and "64x64" in err
    assert not (tmp_path / "out").exists()


def test_library_load_of_evil_checkpoint_via_runtime(tmp_path):
    from effv2nb.device import runtime

    ckpt = _evil(tmp_path)
    with pytest.raises(Effv2nbError, match="refused"):
        runtime.open_runner("torch", f"torch:tiny@{ckpt}")
    assert not (tmp_path / "pwned").exists()
