"""A build YAML cannot make compile write outside its workspace (``<workspace.path>/<name>``), whatever
``workspace.path`` says and whatever symbolic links stand inside the workspace; a link at a file the suite
replaces (``mod.onnx``, ``mod.json``, a config's ``.bak``) is replaced, never followed. And nothing the
tests run reaches the network or listens beyond loopback."""
import os
import shutil
import socket

import pytest
import yaml

from helpers import shipped_config

import netguard
from effv2nb.formats import build_config as config
from effv2nb.ui import config_editor
from effv2nb.cli.main import main
from effv2nb.compile.build import MOD_JSON, MOD_ONNX
from effv2nb.core.settings import DATA_DIR

NAME = "effv2nb_tiny_fp16"


def _tree(root):
    """Every file and link below ``root`` with its content (links: their target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = ("link", os.readlink(p)) if os.path.islink(p) else open(p, "rb").read()
    return out


def _config(tmp_path, workspace):
    d = tmp_path / "configs"
    d.mkdir(exist_ok=True)
    return shipped_config(d, "tiny_fp16.yaml", **{"workspace.path": str(workspace)})


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_workspace_path_with_dotdot_writes_only_where_it_resolves(tmp_path, capsys):
    (tmp_path / "a" / "b").mkdir(parents=True)
    p = _config(tmp_path, f"{tmp_path}/a/b/../../ws")
    before = _tree(tmp_path)
    assert main(["compile", str(p)]) == 0
    capsys.readouterr()
    new = {k for k in _tree(tmp_path) if k not in before}
    assert new == {f"ws/{NAME}/{MOD_ONNX}", f"ws/{NAME}/{MOD_JSON}"}, new


def test_workspace_path_relative_is_against_the_current_folder(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    p = _config(tmp_path, "./deploy_weights/")
    assert main(["compile", str(p)]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(run / "deploy_weights" / NAME)) == [MOD_JSON, MOD_ONNX]
    assert not (tmp_path / "configs" / "deploy_weights").exists()


def test_workspace_path_with_home_expands_to_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    p = _config(tmp_path, "~/ws")
    assert main(["compile", str(p)]) == 0
    capsys.readouterr()
    assert (tmp_path / "home" / "ws" / NAME / MOD_ONNX).is_file() and not (tmp_path / "~").exists()


def test_workspace_path_that_is_a_file(tmp_path, capsys):
    (tmp_path / "ws").write_text("not a folder")
    p = _config(tmp_path, tmp_path / "ws")
    assert main(["compile", str(p)]) == 2
    _one_line(capsys, str(tmp_path / "ws"), "cannot create the folder")
    assert (tmp_path / "ws").read_text() == "not a folder"


@pytest.mark.parametrize("name", ["../escape", "/abs", "..", "a/b"])
def test_name_cannot_leave_the_workspace(name, tmp_path, capsys):
    p = _config(tmp_path, tmp_path / "ws")
    raw = yaml.safe_load(p.read_text())
    raw["name"] = name
    p.write_text(yaml.safe_dump(raw))
    assert main(["compile", str(p)]) == 2
    _one_line(capsys, f"{p}: name:")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "ws").exists()


def test_output_folder_linked_outside_is_refused(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / NAME).symlink_to(outside, target_is_directory=True)
    p = _config(tmp_path, tmp_path / "ws")
    assert main(["compile", str(p)]) == 2
    _one_line(capsys, f"{p}: name:", "outside the workspace")
    assert sorted(os.listdir(outside)) == ["keep.txt"]


def test_output_folder_linked_inside_the_workspace_is_fine(tmp_path, capsys):
    (tmp_path / "ws" / "real").mkdir(parents=True)
    (tmp_path / "ws" / NAME).symlink_to(tmp_path / "ws" / "real", target_is_directory=True)
    assert main(["compile", str(_config(tmp_path, tmp_path / "ws"))]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(tmp_path / "ws" / "real")) == [MOD_JSON, MOD_ONNX]


@pytest.mark.parametrize("link", [MOD_ONNX, MOD_JSON])
def test_output_file_linked_outside_is_replaced_not_followed(link, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "ws" / NAME
    out.mkdir(parents=True)
    (out / link).symlink_to(victim)
    assert main(["compile", str(_config(tmp_path, tmp_path / "ws"))]) == 0
    capsys.readouterr()
    assert victim.read_text() == "precious"
    assert not (out / link).is_symlink() and (out / link).stat().st_size > 100


def test_config_backup_linked_outside_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    d = tmp_path / "cfg"
    d.mkdir()
    p = d / "t.yaml"
    shutil.copy(DATA_DIR / "configs" / "tiny_int8.yaml", p)
    first = p.read_bytes()
    (d / "t.yaml.bak").symlink_to(victim)
    ed = config_editor.ConfigEditor(p)
    ed.w["data_num"].value = 5
    ed.save_button.click()
    assert ed.status.value.startswith("saved"), ed.status.value
    assert victim.read_text() == "precious"
    assert not (d / "t.yaml.bak").is_symlink() and (d / "t.yaml.bak").read_bytes() == first
    assert config.load_build_config(p)[0].dataset.sampler.get_data_num == 5


# ---------------------------------------------------------------- network
def test_the_suite_cannot_reach_the_network():
    """The guard in conftest.py refuses outbound connections and lookups (and records them: the test that
    tries fails); loopback still works, and a server may listen on loopback only."""
    for attempt in (lambda: socket.create_connection(("192.0.2.1", 443), timeout=1),
                    lambda: socket.getaddrinfo("example.com", 443)):
        with pytest.raises(OSError, match="blocked in the test suite"):
            attempt()
    assert len(netguard.ATTEMPTS) == 2
    netguard.ATTEMPTS.clear()                  # refused, as they must be: this test passes
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as wide:
        with pytest.raises(OSError, match="blocked"):
            wide.bind(("0.0.0.0", 0))
    netguard.ATTEMPTS.clear()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        with socket.create_connection(srv.getsockname(), timeout=5):
            conn, _ = srv.accept()
            conn.close()
    assert netguard.ATTEMPTS == []
