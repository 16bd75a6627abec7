"""``infer`` streams its result file and resumes after ``kill -9``: byte-identical to an uninterrupted run.

Real processes are killed with SIGKILL at several points of a run (watching the partial file grow),
then the same command with ``--resume`` finishes it. Also: arguments that change the result are
refused on ``--resume`` (naming what differs), display options are not, a full disk mid-run leaves
lines that ``--resume`` completes, an earlier result file is kept as ``.bak``.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import TINY_PREFIX, TINY_VDSP, photos_and_digits, tiny_infer_argv

from effv2nb.cli.main import main
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR, REPO_DIR
from effv2nb.device.journal import partial_path, state_path

PREFIX, VDSP = TINY_PREFIX, TINY_VDSP


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One ImageNet-sized JPEG per class in 48 synset folders, plus the 400 validation digits."""
    return photos_and_digits(tmp_path_factory.mktemp("src"), 48)


def _argv(src, out, *extra):
    return tiny_infer_argv(src, out, "--infer-mode", "sync", *extra)


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("resume_ref")
    assert main(_argv(folder, out)) == 0
    return (out / "result.txt").read_bytes()


def _run_and_kill(folder, out, kill_at_bytes):
    """Start infer as a process, SIGKILL it once its partial file holds ``kill_at_bytes``; True if killed mid-run."""
    proc = subprocess.Popen([sys.executable, "-m", "effv2nb", *_argv(folder, out)], env=_env(), cwd=REPO_DIR,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = partial_path(out / "result.txt")
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if part.is_file() and part.stat().st_size >= kill_at_bytes:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait()
    return False


@pytest.mark.parametrize("kill_at", [0, 30_000, 120_000])
def test_killed_then_resumed_is_byte_identical(folder, reference, tmp_path, kill_at, capsys):
    out = tmp_path / "out"
    assert _run_and_kill(folder, out, kill_at), "the run finished before it could be killed"
    assert not (out / "result.txt").exists(), "a result file appeared before the run was complete"
    assert partial_path(out / "result.txt").is_file()
    rc = main(_argv(folder, out, "--resume"))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert (out / "result.txt").read_bytes() == reference
    assert not partial_path(out / "result.txt").exists() and not state_path(out / "result.txt").exists()


def test_resume_after_a_finished_run_changes_nothing(folder, reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out)) == 0
    assert main(_argv(folder, out, "--resume")) == 0
    assert "nothing to resume" in capsys.readouterr().err
    assert (out / "result.txt").read_bytes() == reference
    assert (out / "result.txt.bak").read_bytes() == reference   # without an interrupted run: a fresh run, .bak kept


def _interrupted(folder, out):
    assert _run_and_kill(folder, out, 20_000)


@pytest.mark.parametrize("change,named", [
    (["--batch", "8"], "--batch"),
    (["--vdsp-params", "VDSP"], "--vdsp-params"),
    (["--model-prefix", "MODEL"], "--model-prefix"),
    (["--file-path", "FOLDER"], "--file-path"),
    (["--label-txt", str(DIGITS_DIR / "labels.txt")], "--label-txt"),
])
def test_resume_with_other_arguments_is_refused_naming_what_differs(folder, tmp_path, capsys, change, named):
    out = tmp_path / "out"
    _interrupted(folder, out)
    state_before = state_path(out / "result.txt").read_bytes()
    argv = _argv(folder, out, "--resume")
    flag, value = change
    if value == "MODEL":                       # the same model, in another file: its bytes differ
        import onnx

        other = tmp_path / "other.onnx"
        m = onnx.load(str(DATA_DIR / "tiny_64.onnx"))
        m.doc_string = "another model"
        onnx.save(m, str(other))
        value = str(other.with_suffix(""))
    if value == "VDSP":                        # the same size, another normalisation
        import json

        v = json.loads(VDSP.read_text())
        v["OpConfig"]["Mean"] = [0.5, 0.5, 0.5]
        value = str(tmp_path / "other-vdsp.json")
        Path(value).write_text(json.dumps(v))
    if value == "FOLDER":
        value = str(folder / "photos")
    i = argv.index(flag) if flag in argv else None
    if i is None:
        argv += [flag, value]
    else:
        argv[i + 1] = value
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "cannot --resume" in lines[0] and named in lines[0], lines[0]
    assert not (out / "result.txt").exists()
    assert state_path(out / "result.txt").read_bytes() == state_before   # the interrupted run is kept


def test_display_and_speed_options_do_not_block_resume(folder, reference, tmp_path):
    out = tmp_path / "out"
    _interrupted(folder, out)
    argv = [a for a in _argv(folder, out, "--resume", "--workers", "3") if a != "--no-progress"]
    argv[argv.index("sync")] = "async"
    assert main(argv) == 0
    assert (out / "result.txt").read_bytes() == reference


def test_without_resume_an_interrupted_run_starts_afresh(folder, reference, tmp_path, capsys):
    out = tmp_path / "out"
    _interrupted(folder, out)
    assert main(_argv(folder, out)) == 0
    assert "discarded" in capsys.readouterr().err
    assert (out / "result.txt").read_bytes() == reference


def test_full_disk_mid_run_leaves_lines_that_resume_completes(folder, reference, tmp_path, capsys, monkeypatch):
    """ENOSPC on the 40th append: one line naming the file, exit 2, no result file; --resume completes it."""
    import errno

    from effv2nb.device import journal as journal_mod

    out = tmp_path / "out"
    real_add = journal_mod.ResultJournal.add
    calls = {"n": 0}

    def add(self, done, text, skipped=()):
        calls["n"] += 1
        if calls["n"] == 40:
            self.fh.write(text.encode()[: len(text) // 2])         # half a batch reached the disk
            raise journal_mod.atomic.os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), self.partial)
        return real_add(self, done, text, skipped)

    monkeypatch.setattr(journal_mod, "COMMIT_EVERY_S", 0.0)
    monkeypatch.setattr(journal_mod.ResultJournal, "add", add)
    rc = main(_argv(folder, out))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert rc == 2 and len(lines) == 1 and "[ENOSPC]" in lines[0] and "result.txt.partial" in lines[0], err
    assert not (out / "result.txt").exists()
    monkeypatch.setattr(journal_mod.ResultJournal, "add", real_add)
    assert main(_argv(folder, out, "--resume")) == 0
    assert (out / "result.txt").read_bytes() == reference


def test_lines_are_in_path_order_and_an_unreadable_image_is_skipped(folder, tmp_path, capsys):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(folder / "photos", src)
    bad = sorted(src.rglob("*.JPEG"))[5]
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    rc = main(_argv(src, out))
    err = capsys.readouterr().err
    assert rc == 1 and str(bad) in err
    paths = [ln.split(": Relay top-")[0] for ln in (out / "result.txt").read_text().splitlines()]
    assert paths == sorted(paths, key=lambda p: str(Path(p).relative_to(src))) and str(bad) not in paths
    assert len(paths) == 5 * 47
