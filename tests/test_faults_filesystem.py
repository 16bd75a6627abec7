"""The file system says no: every command that writes, with its n-th write, rename or folder creation failing
with ENOSPC, EFBIG, EROFS or EACCES (fault injection, not hand cases).

For each command the suite first runs it once (the earlier output), counts the writes, renames and
``mkdir`` calls a second, identical run makes, then runs it again with one of them failing: the first
or the last write, the first or the last rename; and, into a fresh folder, the folder creation. Each
time: exit status 2 (the editor: "not saved"), one line naming a path and the cause, no traceback, no
temporary or partial file anywhere, and the earlier output byte-identical. ``infer`` streams: its
partial file and resume state stay beside the earlier output, and ``--resume`` then finishes the run
with the earlier output's bytes.

Also with real processes: a file-size limit (``ulimit -f``) during compile, a compile killed hard
(SIGKILL) followed by a plain compile, and two compiles into one workspace at once.
"""
import builtins
import errno
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from helpers import shipped_config

from effv2nb.ui import config_editor
from effv2nb.model import models, train
from effv2nb.device import npz, runtime
from effv2nb.formats.vdsp import generate_vdsp
from effv2nb.cli.main import main
from effv2nb.compile.build import MOD_JSON, MOD_ONNX, read_manifest
from effv2nb.core.checksums import file_sha256 as sha256_file
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR, REPO_DIR

CONFIGS = DATA_DIR / "configs"
VDSP = CONFIGS / "tiny-vdsp_params.json"
PREFIX = DATA_DIR / "tiny_64"
ERRNOS = {"ENOSPC": errno.ENOSPC, "EFBIG": errno.EFBIG, "EROFS": errno.EROFS, "EACCES": errno.EACCES}
WHERE = ("write-first", "write-last", "rename-first", "rename-last", "mkdir")
TEMP_RE = re.compile(r"effv2nb-\d+-.*\.tmp$")


# ---------------------------------------------------------------- the fault injector
class _Writer:
    """A file opened for writing whose ``write`` goes through the injector.

    ``fileno`` is withheld, so copy helpers fall back to ``write`` (``sendfile`` would bypass it).
    """

    def __init__(self, f, faults):
        self._f, self._faults = f, faults

    def write(self, data):
        self._faults.hit("write")
        return self._f.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def fileno(self):
        raise io.UnsupportedOperation("fileno (fault injection)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, name):
        return getattr(self._f, name)


class Faults:
    """Counts the process's writes (``write`` on files opened for writing), renames (``os.replace``) and
    ``os.mkdir`` calls; ``arm(op, n, errno)`` makes the n-th one of ``op`` fail with that errno, once."""

    def __init__(self, monkeypatch):
        self.counts = {"write": 0, "rename": 0, "mkdir": 0}
        self.armed = None
        self.fired = None
        real_open, real_replace, real_mkdir = io.open, os.replace, os.mkdir
        faults = self

        def fake_open(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            return _Writer(f, faults) if any(c in mode for c in "wax+") else f

        def fake_replace(src, dst, *args, **kwargs):
            faults.hit("rename", src, dst)
            return real_replace(src, dst, *args, **kwargs)

        def fake_mkdir(path, *args, **kwargs):
            faults.hit("mkdir", path)
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(os, "replace", fake_replace)
        monkeypatch.setattr(os, "mkdir", fake_mkdir)

    def reset(self):
        self.counts = dict.fromkeys(self.counts, 0)
        self.armed = self.fired = None

    def arm(self, op, n, err):
        self.reset()
        self.armed = (op, n, err)

    def hit(self, op, path=None, path2=None):
        self.counts[op] += 1
        if self.armed and self.fired is None and self.armed[0] == op and self.counts[op] == self.armed[1]:
            self.fired = (op, self.counts[op], path)
            e = self.armed[2]
            if op == "write":
                raise OSError(e, os.strerror(e))                        # file.write names no file
            if op == "rename":
                raise OSError(e, os.strerror(e), os.fspath(path), None, os.fspath(path2))
            raise OSError(e, os.strerror(e), os.fspath(path))


# ---------------------------------------------------------------- the writing commands
@dataclass
class Command:
    """``run(ctx, fresh)`` -> ``(exit status, stderr)``; ``out(ctx, fresh)``: the folder it writes into.

    ``resume(ctx, capsys)``: for a command that streams (infer), the same command with ``--resume``;
    its interrupted run may leave ``RESUME_FILES`` beside the earlier output, and ``resume`` must
    then finish it with the earlier output's bytes."""
    setup: Callable
    run: Callable
    out: Callable
    resume: Callable | None = None


RESUME_FILES = {"result.txt.partial", ".result.txt.resume.json"}


def _cli(argv, capsys):
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def _base(ctx, fresh):
    return ctx["tmp"] / ("fresh" if fresh else "") / "o"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Small shared inputs: three digit images, their npz files and vamp-style outputs."""
    root = tmp_path_factory.mktemp("fault_inputs")
    src = root / "src" / "3"
    src.mkdir(parents=True)
    for f in sorted((DIGITS_DIR / "val" / "3").glob("*.png"))[:3]:
        shutil.copy(f, src / f.name)
    dl = root / "list.txt"
    npz.image2npz(root / "src", root / "npz", dl, progress=False)
    npz.run_datalist(runtime.open_runner("ort", PREFIX), dl, root / "vamp_out",
                     generate_vdsp(models.load("tiny")))
    return {"root": root, "src": root / "src", "datalist": dl, "vamp_out": root / "vamp_out"}


def _compile_setup(name, **changes):
    def setup(ctx):
        for fresh in (False, True):
            d = ctx["tmp"] / ("cfg_fresh" if fresh else "cfg")
            d.mkdir()
            ctx[("cfg", fresh)] = shipped_config(d, name, **{"workspace.path": str(_base(ctx, fresh)), **changes})
    return setup


def _infer_argv(ctx, fresh):
    return ["infer", "--file-path", ctx["inputs"]["src"], "--model-prefix", PREFIX, "--vdsp-params", VDSP,
            "--save-dir", _base(ctx, fresh), "--no-progress", "--infer-mode", "sync"]


def _editor_setup(ctx):
    d = ctx["tmp"] / "o"
    d.mkdir()
    shutil.copy(CONFIGS / "tiny_int8.yaml", d / "t.yaml")


def _editor_run(ctx, fresh, capsys):
    src = _base(ctx, False) / "t.yaml"
    target = (_base(ctx, True) / "t.yaml") if fresh else src
    ed = config_editor.ConfigEditor(src, save_path=target)
    ed.w["data_num"].value = 7
    ed.w["per_channel"].value = not ed.w["per_channel"].value
    ed.save_button.click()
    status = ed.status.value
    if status.startswith("saved"):
        return 0, ""
    assert status.startswith("not saved: "), status
    return 2, "error: " + status[len("not saved: "):] + "\n"


def _fake_training(**_):
    import torch
    from effv2nb.model.tiny import build_tiny

    torch.manual_seed(0)
    return build_tiny(), [{"val_top1": 90.0, "val_top5": 99.0, "seconds": 0.0}]


COMMANDS = {
    "export": Command(lambda ctx: None,
                      lambda ctx, fresh, capsys: _cli(["export", "--model", "tiny", "--save-dir", _base(ctx, fresh)],
                                                      capsys),
                      _base),
    "compile_fp16": Command(_compile_setup("tiny_fp16.yaml"),
                            lambda ctx, fresh, capsys: _cli(["compile", ctx[("cfg", fresh)], "--force"], capsys),
                            _base),
    "compile_int8": Command(_compile_setup("tiny_int8.yaml", **{"dataset.sampler.get_data_num": 4,
                                                                 "backend.quantize.calibrate_mode": "max"}),
                            lambda ctx, fresh, capsys: _cli(["compile", ctx[("cfg", fresh)], "--force"], capsys),
                            _base),
    "infer": Command(lambda ctx: None,
                     lambda ctx, fresh, capsys: _cli(_infer_argv(ctx, fresh), capsys),
                     _base,
                     lambda ctx, capsys: _cli(_infer_argv(ctx, False) + ["--resume"], capsys)),
    "image2npz": Command(lambda ctx: None,
                         lambda ctx, fresh, capsys: _cli(
                             ["image2npz", "--dataset-path", ctx["inputs"]["src"], "--target-path",
                              _base(ctx, fresh) / "npz", "--text-path", _base(ctx, fresh) / "list.txt"], capsys),
                         _base),
    "npz_decode": Command(lambda ctx: None,
                          lambda ctx, fresh, capsys: _cli(
                              ["npz-decode", ctx["inputs"]["datalist"], ctx["inputs"]["vamp_out"],
                               _base(ctx, fresh) / "result.txt", DIGITS_DIR / "labels.txt"], capsys),
                          _base),
    "vamp_datalist": Command(lambda ctx: None,
                             lambda ctx, fresh, capsys: _cli(
                                 ["vamp", "-m", PREFIX, "--vdsp_params", VDSP, "-i", "2", "-b", "2", "--datalist",
                                  ctx["inputs"]["datalist"], "--path_output", _base(ctx, fresh) / "out"], capsys),
                             _base),
    "editor_save": Command(_editor_setup, _editor_run, _base),
    "train_tiny": Command(lambda ctx: None,
                          lambda ctx, fresh, capsys: _cli(
                              ["train-tiny", "--epochs", "1", "--out", _base(ctx, fresh) / "w" / "tiny.safetensors",
                               "--data-dir", _base(ctx, fresh) / "digits"], capsys),
                          _base),
}


def _snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


def _temps(folder: Path) -> list:
    return [p for p in folder.rglob("*") if TEMP_RE.search(p.name)]


def _check_one_line(err, code, where_path):
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert os.strerror(ERRNOS[code]) in line and f"[{code}]" in line, line
    assert str(where_path) in line, (str(where_path), line)
    return line


_BASELINES = {}    # command -> (its earlier output, what a rerun over it counts)


def _baseline(name, inputs, tmp_path_factory, capsys, faults):
    """Run the command once (the earlier output), then again counting writes, renames and mkdirs."""
    if name not in _BASELINES:
        cmd = COMMANDS[name]
        ctx = {"tmp": tmp_path_factory.mktemp(f"baseline_{name}"), "inputs": inputs}
        cmd.setup(ctx)
        rc, err = cmd.run(ctx, False, capsys)
        assert rc == 0, err
        faults.reset()
        rc, err = cmd.run(ctx, False, capsys)
        assert rc == 0, err
        _BASELINES[name] = (cmd.out(ctx, False), dict(faults.counts))
    return _BASELINES[name]


@pytest.fixture
def faults(monkeypatch):
    return Faults(monkeypatch)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("code", ERRNOS)
@pytest.mark.parametrize("name", COMMANDS)
def test_write_fault(name, code, where, inputs, tmp_path, tmp_path_factory, capsys, monkeypatch, faults):
    cmd = COMMANDS[name]
    monkeypatch.setattr(train, "train_tiny", _fake_training)
    ctx = {"tmp": tmp_path, "inputs": inputs}
    cmd.setup(ctx)
    if where == "mkdir":
        out = cmd.out(ctx, True)
        faults.arm("mkdir", 1, ERRNOS[code])
        rc, err = cmd.run(ctx, True, capsys)
        assert faults.fired, "no folder creation happened"
        assert rc == 2, err
        _check_one_line(err, code, out.parent)
        assert _snapshot(out.parent) == {}, "a file was written although its folder could not be made"
        assert not _temps(tmp_path)
        return
    earlier, counts = _baseline(name, inputs, tmp_path_factory, capsys, faults)
    out = cmd.out(ctx, False)
    shutil.copytree(earlier, out, symlinks=True, dirs_exist_ok=True)     # the earlier output, as a run left it
    op, pos = where.split("-")
    n = 1 if pos == "first" else counts[op]
    assert n >= 1, (name, counts)
    before = _snapshot(out)
    faults.arm(op, n, ERRNOS[code])
    rc, err = cmd.run(ctx, False, capsys)
    assert faults.fired, (name, where, faults.counts)
    assert rc == 2, err
    _check_one_line(err, code, out)
    after = _snapshot(out)
    if cmd.resume is not None:       # a streamed run: what it wrote so far stays for --resume
        assert set(after) - set(before) <= RESUME_FILES, sorted(after)
        after = {k: v for k, v in after.items() if k not in RESUME_FILES}
    assert after == before, "an earlier output changed"
    assert not _temps(tmp_path), _temps(tmp_path)
    if cmd.resume is not None:
        faults.reset()
        rc, err = cmd.resume(ctx, capsys)
        assert rc == 0, err
        assert _snapshot(out)["result.txt"] == _snapshot(earlier)["result.txt"]


# ---------------------------------------------------------------- real processes
def _env():
    return dict(os.environ, PYTHONPATH=str(REPO_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _fp16_config(tmp_path):
    return shipped_config(tmp_path, "tiny_fp16.yaml", **{"workspace.path": str(tmp_path / "ws")})


def _valid_model(out):
    man = read_manifest(out / MOD_ONNX)
    assert man["mod_onnx_sha256"] == sha256_file(out / MOD_ONNX), "mod.json and mod.onnx come from different runs"
    r = runtime.open_runner("ort", out / "mod")
    scores = r.run(np.zeros((1, 3, 64, 64), np.float32))
    assert scores.shape == (1, 10) and np.all(np.isfinite(scores))


@pytest.mark.parametrize("earlier", [False, True], ids=["fresh", "over_earlier_output"])
def test_file_size_limit_during_compile(earlier, tmp_path):
    """``ulimit -f``: the kernel answers EFBIG; one line names the file and the limit, the old model stays."""
    p = _fp16_config(tmp_path)
    out = tmp_path / "ws" / "effv2nb_tiny_fp16"
    if earlier:
        assert main(["compile", str(p)]) == 0
    before = _snapshot(out)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))

    r = subprocess.run([sys.executable, "-m", "effv2nb", "compile", str(p), "--force"], capture_output=True,
                       text=True, env=_env(), preexec_fn=limit, timeout=300)
    assert r.returncode == 2, r.stderr
    line = _check_one_line(r.stderr, "EFBIG", out / MOD_ONNX)
    assert "ulimit -f" in line and str(200 * 1024) in line
    assert _snapshot(out) == before and not _temps(tmp_path)


def test_int8_compile_with_a_file_size_limit_is_one_line(tmp_path):
    """Inside ONNX Runtime's quantizer a cut-short temporary model surfaces as a protobuf DecodeError: one
    line, and nothing left beside the input model (ORT writes ``<input>-inferred.onnx`` there)."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(DATA_DIR / "tiny_64.onnx", model_dir / "tiny_64.onnx")
    p = shipped_config(tmp_path, "tiny_int8.yaml", **{"workspace.path": str(tmp_path / "ws"),
                                                      "dataset.sampler.get_data_num": 4,
                                                      "frontend.checkpoint": str(model_dir / "tiny_64.onnx")})
    r = subprocess.run([sys.executable, "-m", "effv2nb", "compile", str(p)], capture_output=True, text=True,
                       env=_env(), timeout=300,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024)))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "ulimit -f" in lines[0], r.stderr
    out = tmp_path / "ws" / "effv2nb_tiny_int8"
    assert _snapshot(out) == {} and not _temps(tmp_path)
    assert sorted(os.listdir(model_dir)) == ["tiny_64.onnx"], os.listdir(model_dir)


_KILLER = """
import os, signal, sys
from effv2nb.compile import build as c
from effv2nb.cli.main import main
real = c.smoke_run
def die(path):          # the model is written to its temporary file: now die, with no chance to clean up
    real(path)
    os.kill(os.getpid(), signal.SIGKILL)
c.smoke_run = die
sys.exit(main(["compile", sys.argv[1], "--force"]))
"""


@pytest.mark.parametrize("earlier", [False, True], ids=["fresh", "over_earlier_output"])
def test_compile_killed_hard_then_plain_compile(earlier, tmp_path):
    p = _fp16_config(tmp_path)
    out = tmp_path / "ws" / "effv2nb_tiny_fp16"
    if earlier:
        assert main(["compile", str(p)]) == 0
    before = _snapshot(out)
    r = subprocess.run([sys.executable, "-c", _KILLER, str(p)], capture_output=True, text=True, env=_env(),
                       timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert _temps(out), "the killed compile left its temporary files (it had no chance to remove them)"
    visible = {k: v for k, v in _snapshot(out).items() if not TEMP_RE.search(k)}
    assert visible == before, "a hard kill changed the earlier output"
    assert main(["compile", str(p)]) == 0                       # a plain compile afterwards
    _valid_model(out)
    assert not _temps(out), "the plain compile removed the dead process's temporary files"
    if earlier:
        assert _snapshot(out) == before, "same inputs: the earlier model is up to date and kept"


_RACER = """
import sys, time
from pathlib import Path
from effv2nb.compile import build as c
from effv2nb.cli.main import main
me, other = Path(sys.argv[2]), Path(sys.argv[3])
real = c.smoke_run
def meet(path):         # both processes are between writing and renaming: wait for the other one
    me.touch()
    deadline = time.monotonic() + 120
    while not other.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    real(path)
c.smoke_run = meet
sys.exit(main(["compile", sys.argv[1], "--force"]))
"""


def test_two_compiles_into_one_workspace_at_once(tmp_path):
    p = _fp16_config(tmp_path)
    a, b = tmp_path / "a.ready", tmp_path / "b.ready"
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(p), str(me), str(other)], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for me, other in ((a, b), (b, a))]
    outs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    assert a.exists() and b.exists(), "the two compiles did not overlap"
    out = tmp_path / "ws" / "effv2nb_tiny_fp16"
    _valid_model(out)
    assert sorted(os.listdir(out)) == [MOD_JSON, MOD_ONNX]
    assert json.loads((out / MOD_JSON).read_text())["name"] == "effv2nb_tiny_fp16"
