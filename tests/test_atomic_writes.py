"""Issue 7, nothing lost: an interrupted compile / infer / image2npz / save leaves no partial output and
no temporary file, and earlier outputs stay byte-identical; saving over a config keeps a backup."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import shipped_config

from effv2nb.core import atomic
from effv2nb.compile import calibration, build as compile_mod
from effv2nb.cli import main as cli
from effv2nb.formats import build_config as config, result_file as results
from effv2nb.ui import config_editor
from effv2nb.device import npz, runtime
from effv2nb.compile.build import MOD_JSON, MOD_ONNX, compile_config
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR

CONFIGS = DATA_DIR / "configs"
VDSP = CONFIGS / "tiny-vdsp_params.json"
PKG = Path(compile_mod.__file__).parents[1]


class Boom(Exception):
    pass


def _after(n, real, exc):
    """``real``, but raising ``exc`` from its ``n+1``-th call on."""
    calls = {"n": 0}

    def wrapper(*a, **k):
        calls["n"] += 1
        if calls["n"] > n:
            raise exc
        return real(*a, **k)

    wrapper.calls = calls
    return wrapper


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
        if folder.exists() else {}


def _no_temp(folder: Path, allow=()):
    left = [p for p in folder.rglob("*") if (p.name.endswith(".tmp") or p.name.startswith(".")) and p.name not in allow] \
        if folder.exists() else []
    assert not left, left


def _config(tmp_path, name, **changes):
    return shipped_config(tmp_path, name, **{"workspace.path": str(tmp_path / "ws"), **changes})


# ---------------------------------------------------------------- compile
@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("atomic_compile")
    p = _config(tmp, "tiny_int8.yaml", **{"dataset.sampler.get_data_num": 4,
                                          "backend.quantize.calibrate_mode": "max"})
    mod = compile_config(p, log=lambda *_: None, progress=False)
    return p, mod.parent


INTERRUPTS = {
    # where the exception strikes: (module, attribute, calls before it, exception)
    "ctrl_c_mid_calibration": (calibration, "read_image", 2, KeyboardInterrupt()),
    "error_mid_calibration": (calibration, "read_image", 3, Boom("disk on fire")),
    "error_after_quantization": (compile_mod, "add_softmax", 0, Boom("late failure")),
    "ctrl_c_in_final_check": (compile_mod, "smoke_run", 0, KeyboardInterrupt()),
}


@pytest.mark.parametrize("case", INTERRUPTS)
def test_interrupted_recompile_keeps_earlier_output(case, compiled, monkeypatch):
    p, out = compiled
    before = _snapshot(out)
    assert set(before) == {MOD_ONNX, MOD_JSON}
    mod, attr, n, exc = INTERRUPTS[case]
    monkeypatch.setattr(mod, attr, _after(n, getattr(mod, attr), exc))
    with pytest.raises(type(exc)):
        compile_config(p, force=True, log=lambda *_: None, progress=False)
    assert _snapshot(out) == before, "earlier mod.onnx / mod.json changed"
    _no_temp(out)


def test_interrupted_fresh_compile_leaves_nothing(tmp_path, monkeypatch, capsys):
    p = _config(tmp_path, "tiny_int8.yaml", **{"dataset.sampler.get_data_num": 4})
    monkeypatch.setattr(calibration, "read_image", _after(2, calibration.read_image, KeyboardInterrupt()))
    assert cli.main(["compile", str(p)]) == 130
    assert "interrupted" in capsys.readouterr().err
    out = tmp_path / "ws" / "effv2nb_tiny_int8"
    assert not (out / MOD_ONNX).exists() and not (out / MOD_JSON).exists()
    assert not [f for f in out.rglob("*") if f.is_file()] if out.exists() else True


def test_interrupted_fp16_compile_leaves_nothing(tmp_path, monkeypatch):
    p = _config(tmp_path, "tiny_fp16.yaml")
    monkeypatch.setattr(compile_mod, "compare_outputs", _after(0, compile_mod.compare_outputs, Boom("mid-check")))
    with pytest.raises(Boom):
        compile_config(p, log=lambda *_: None, progress=False)
    out = tmp_path / "ws"
    assert not [f for f in out.rglob("*") if f.is_file()] if out.exists() else True


# ---------------------------------------------------------------- infer
def _infer(tmp_path, folder, *extra):
    return cli.main(["infer", "--file-path", str(folder), "--model-prefix", str(DATA_DIR / "tiny_64"),
                     "--vdsp-params", str(VDSP), "--save-dir", str(tmp_path / "out"), "--no-progress",
                     "--batch", "4", "--infer-mode", "sync", *extra])


STREAM_FILES = {"result.txt.partial", ".result.txt.resume.json"}    # what an interrupted infer leaves to --resume


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), Boom("model crashed")], ids=["ctrl_c", "error"])
def test_interrupted_infer_keeps_earlier_result(exc, tmp_path, monkeypatch, capsys):
    folder = DIGITS_DIR / "val" / "9"
    assert _infer(tmp_path, folder) == 0
    before = _snapshot(tmp_path / "out")
    assert list(before) == ["result.txt"]
    monkeypatch.setattr(runtime.OrtRunner, "run", _after(2, runtime.OrtRunner.run, exc))
    if isinstance(exc, KeyboardInterrupt):
        assert _infer(tmp_path, folder) == 130
    else:
        with pytest.raises(Boom):
            _infer(tmp_path, folder)
    after = _snapshot(tmp_path / "out")
    assert set(after) == {"result.txt"} | STREAM_FILES
    assert after["result.txt"] == before["result.txt"], "earlier result.txt changed"
    _no_temp(tmp_path / "out", allow=STREAM_FILES)
    monkeypatch.undo()
    assert _infer(tmp_path, folder, "--resume") == 0          # the interrupted run goes on: same bytes
    assert _snapshot(tmp_path / "out")["result.txt"] == before["result.txt"]


def test_interrupted_first_infer_writes_no_result(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime.OrtRunner, "run", _after(1, runtime.OrtRunner.run, KeyboardInterrupt()))
    assert _infer(tmp_path, DIGITS_DIR / "val" / "9") == 130
    assert not (tmp_path / "out" / "result.txt").exists()
    assert {p.name for p in (tmp_path / "out").iterdir()} <= STREAM_FILES
    _no_temp(tmp_path / "out", allow=STREAM_FILES)


# ---------------------------------------------------------------- npz, result files
def test_interrupted_image2npz_leaves_complete_files_and_no_datalist(tmp_path, monkeypatch):
    src = tmp_path / "src" / "2"
    src.mkdir(parents=True)
    for f in sorted((DIGITS_DIR / "val" / "2").glob("*.png"))[:6]:
        shutil.copy(f, src / f.name)
    monkeypatch.setattr(npz, "read_image", _after(3, npz.read_image, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        npz.image2npz(tmp_path / "src", tmp_path / "npz", tmp_path / "list.txt", progress=False)
    assert not (tmp_path / "list.txt").exists()
    written = sorted((tmp_path / "npz").rglob("*.npz"))
    assert len(written) == 3
    for f in written:                 # every file there is complete
        assert np.load(f)[npz.INPUT_KEY].shape[0] == 3
    _no_temp(tmp_path / "npz")


def test_result_write_failing_midway_keeps_old_file(tmp_path):
    p = tmp_path / "result.txt"
    results.write(p, [("/v/1/a.png", [1, 2], [0.6, 0.4], ["1", "2"])])
    before = p.read_bytes()

    def records():
        yield ("/v/1/b.png", [1, 2], [0.6, 0.4], ["1", "2"])
        raise Boom("generator died")

    with pytest.raises(Boom):
        results.write(p, records())
    assert p.read_bytes() == before
    _no_temp(tmp_path)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), Boom("x"), OSError("disk full")], ids=str)
def test_atomic_path_on_any_exception(exc, tmp_path):
    t = tmp_path / "f.bin"
    t.write_bytes(b"old")
    with pytest.raises(Effv2nbError if isinstance(exc, OSError) else type(exc)):   # OSError: one line
        with atomic.atomic_path(t, backup=True) as tmp:
            tmp.write_bytes(b"half")
            raise exc
    assert t.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


# ---------------------------------------------------------------- configs: backup
def test_saving_a_config_keeps_the_previous_one_as_backup(tmp_path):
    p = tmp_path / "t.yaml"
    shutil.copy(CONFIGS / "tiny_int8.yaml", p)
    first = p.read_bytes()
    cfg, _ = config.load_build_config(p)
    cfg.dataset.sampler.get_data_num = 7
    config.save_build_config(cfg, p)
    assert (tmp_path / "t.yaml.bak").read_bytes() == first
    second = p.read_bytes()
    cfg.dataset.sampler.get_data_num = 8
    config.save_build_config(cfg, p)
    assert (tmp_path / "t.yaml.bak").read_bytes() == second, "the backup is the file just replaced"


def test_editor_save_keeps_backup(tmp_path):
    p = tmp_path / "t.yaml"
    shutil.copy(CONFIGS / "tiny_int8.yaml", p)
    first = p.read_bytes()
    ed = config_editor.ConfigEditor(p)
    ed.w["data_num"].value = 9
    ed.save_button.click()
    assert ed.status.value.startswith("saved"), ed.status.value
    assert (tmp_path / "t.yaml.bak").read_bytes() == first
    assert yaml.safe_load(p.read_text())["dataset"]["sampler"]["get_data_num"] == 9


def test_config_save_failing_at_rename_keeps_file(tmp_path, monkeypatch):
    p = tmp_path / "t.yaml"
    shutil.copy(CONFIGS / "tiny_int8.yaml", p)
    first = p.read_bytes()
    cfg, _ = config.load_build_config(p)
    cfg.dataset.sampler.get_data_num = 7
    monkeypatch.setattr(atomic.os, "replace", _after(0, atomic.os.replace, OSError("rename failed")))
    with pytest.raises(Effv2nbError, match="rename failed"):
        config.save_build_config(cfg, p)
    assert p.read_bytes() == first
    assert sorted(f.name for f in tmp_path.iterdir()) in (["t.yaml"], ["t.yaml", "t.yaml.bak"])


# ---------------------------------------------------------------- every writer goes through effv2nb.core.atomic
WRITE_RE = re.compile(r"""open\([^)]*['"][wax]b?['"]|\.write_text\(|\.write_bytes\(|\.save\(|np\.savez|save_file\(""")


def test_package_writes_only_through_atomic():
    """A file write outside ``effv2nb.core.atomic`` must target the temporary path it hands out (``tmp``)."""
    offenders = []
    for f in sorted(PKG.rglob("*.py")):
        if f.name == "atomic.py":
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if WRITE_RE.search(code) and "tmp" not in code and "atomic." not in code and "buf" not in code \
                    and "self.save()" not in code and "_button" not in code:
                offenders.append(f"{f.name}:{n}: {line.strip()}")
    assert not offenders, offenders
