"""Issue 7, configs: every broken build YAML / vdsp JSON gives one line naming the file and key, on
every path (``config check``, ``compile``, ``infer``, the editor), exit 2 and no traceback.

Validation details (allowed values, messages) are tested in test_config.py / test_vdsp.py; here each
case goes through the commands and the editor.
"""
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from effv2nb.formats import build_config as config, vdsp
from effv2nb.ui import config_editor
from effv2nb.cli.main import main
from effv2nb.compile.build import compile_config, read_manifest
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR

CONFIGS = DATA_DIR / "configs"
VDSP = CONFIGS / "tiny-vdsp_params.json"
ROOT = Path(__file__).resolve().parents[1]


def _base_raw():
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    return config.rebase_paths(cfg.to_dict(), CONFIGS, "/")       # absolute paths: usable from tmp_path


def _one_line_error(err, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)


# ---------------------------------------------------------------- files that are not a build config
FILES = {
    "syntax.yaml": (b"name: x\nfrontend:\n  shape: [1, 2\nbackend: {}\n", ("not valid YAML", "line")),
    "empty.yaml": (b"", ("empty file",)),
    "blank.yaml": (b"\n# only a comment\n", ("empty file",)),
    "binary.yaml": (bytes(range(256)) * 4, ("cannot read build config", "not UTF-8")),
    "list.yaml": (b"- name: x\n- frontend: {}\n", ("YAML mapping", "not a list")),
    "bad_date.yaml": (b"name: x\ncreated: 2001-13-14\n", ("not valid YAML",)),
    "python_tag.yaml": (b"name: !!python/object/apply:os.system ['touch pwned']\n", ("not valid YAML",)),
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("command", ["config check", "compile", "cross-check"])
def test_unreadable_config_file_cli(name, command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / name
    p.write_bytes(FILES[name][0])
    argv = {"config check": ["config", "check", str(p)], "compile": ["compile", str(p)],
            "cross-check": ["config", "cross-check", str(p), str(VDSP)]}[command]
    assert main(argv) == 2
    _one_line_error(capsys.readouterr().err, str(p), *FILES[name][1])
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "deploy_weights").exists()


@pytest.mark.parametrize("name", FILES)
def test_unreadable_config_file_editor(name, tmp_path):
    p = tmp_path / name
    p.write_bytes(FILES[name][0])
    with pytest.raises(Effv2nbError) as exc:
        config_editor.ConfigEditor(p)
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------- keys with wrong values
def _set(raw, dotted, value):
    d = raw
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d[int(k)] if isinstance(d, list) else d[k]
    last = int(keys[-1]) if isinstance(d, list) else keys[-1]
    if value is _DELETE:
        del d[last]
    else:
        d[last] = value


_DELETE = object()
OPS = _base_raw()["dataset"]["process_ops"]          # DecodeImage, Resize, CenterCrop, Normalize, ToTensor
KEY_CASES = {
    "dtype_int4": ("backend.dtype", "int4", "backend.dtype"),
    "backend_type_unknown": ("backend.type", "tvm_gpu", "backend.type"),
    "calibrate_mode_unknown": ("backend.quantize.calibrate_mode", "entropy", "backend.quantize.calibrate_mode"),
    "get_data_num_0": ("dataset.sampler.get_data_num", 0, "dataset.sampler.get_data_num"),
    "get_data_num_negative": ("dataset.sampler.get_data_num", -5, "dataset.sampler.get_data_num"),
    "get_data_num_string": ("dataset.sampler.get_data_num", "ten", "dataset.sampler.get_data_num"),
    "unknown_op": ("dataset.process_ops", OPS[:3] + [{"type": "GaussianBlur"}] + OPS[3:],
                   "dataset.process_ops[3].type"),
    "resize_without_size": ("dataset.process_ops.1", {"type": "Resize"}, "dataset.process_ops[1].size"),
    "mean_two_values": ("dataset.process_ops.3.mean", [0.485, 0.456], "dataset.process_ops[3].mean"),
    "missing_frontend": ("frontend", _DELETE, "frontend"),
    "missing_dataset_path": ("dataset.path", _DELETE, "dataset.path"),
    "dataset_path_not_found": ("dataset.path", "/no/such/folder", "dataset.path"),
}


def _write_case(tmp_path, case):
    raw = _base_raw()
    dotted, value, _ = KEY_CASES[case]
    _set(raw, dotted, value if value is _DELETE else copy.deepcopy(value))
    p = tmp_path / f"{case}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


@pytest.mark.parametrize("case", KEY_CASES)
def test_bad_key_config_check_and_compile(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _write_case(tmp_path, case)
    where = KEY_CASES[case][2]
    if case != "dataset_path_not_found":           # a missing folder is a warning for check, an error for compile
        assert main(["config", "check", str(p)]) == 2
        err = capsys.readouterr().err
        assert f"error: {p}: {where}: " in err and "Traceback" not in err, err
    assert main(["compile", str(p)]) == 2
    _one_line_error(capsys.readouterr().err, f"{p}: {where}: ")
    assert not (tmp_path / "deploy_weights").exists()


EDITOR_CASES = {   # the same mistakes made in the form (what the widgets can hold)
    "dtype_int4": ("dtype", "int4", "backend.dtype"),
    "backend_type_unknown": ("backend_type", "tvm_gpu", "backend.type"),
    "calibrate_mode_unknown": ("calibrate_mode", "entropy", "backend.quantize.calibrate_mode"),
    "get_data_num_0": ("data_num", 0, "dataset.sampler.get_data_num"),
    "get_data_num_negative": ("data_num", -5, "dataset.sampler.get_data_num"),
    "resize_without_size": ("resize", "", "dataset.process_ops[1].size"),
    "mean_two_values": ("mean", "0.485, 0.456", "dataset.process_ops[3].mean"),
    "mean_not_numbers": ("mean", "a, b, c", "dataset.process_ops[3].mean"),
    "missing_dataset_path": ("dataset_path", "", "dataset.path"),
}


@pytest.mark.parametrize("case", EDITOR_CASES)
def test_bad_value_in_editor_form(case, tmp_path):
    raw = _base_raw()
    cfg, _ = config.config_from_dict(raw, tmp_path / "t.yaml")
    values = config_editor.form_values_from_config(cfg)
    field, value, where = EDITOR_CASES[case]
    values[field] = value
    new, errors, _, _ = config_editor.check_form(raw, values, tmp_path / "t.yaml")
    assert errors and errors[0].where == where, [str(e) for e in errors]
    assert all("\n" not in str(e) for e in errors)


def test_editor_widget_bad_text_field_one_line_and_file_kept(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(_base_raw(), sort_keys=False))
    before = p.read_bytes()
    ed = config_editor.ConfigEditor(p)
    ed.w["mean"].value = "0.485, 0.456"
    assert ed.save_button.disabled and "dataset.process_ops[3].mean" in ed.messages.value
    ed.save_button.click()
    assert ed.status.value.startswith("not saved: ") and "\n" not in ed.status.value
    assert str(p) in ed.status.value and "dataset.process_ops[3].mean" in ed.status.value
    assert p.read_bytes() == before and not (tmp_path / "t.yaml.bak").exists()


def test_fewer_images_than_get_data_num_compiles_with_what_there_is(tmp_path, monkeypatch):
    """Chosen: compile calibrates on the images there are and says so in one warning line."""
    monkeypatch.chdir(tmp_path)
    calib = tmp_path / "calib" / "3"
    calib.mkdir(parents=True)
    for f in sorted((DIGITS_DIR / "calib" / "3").glob("*.png"))[:3]:
        shutil.copy(f, calib / f.name)
    raw = _base_raw()
    raw["dataset"]["path"] = str(tmp_path / "calib")
    raw["dataset"]["sampler"]["get_data_num"] = 10
    raw["backend"]["quantize"]["calibrate_mode"] = "max"
    p = tmp_path / "few.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    logged = []
    mod = compile_config(p, log=logged.append, progress=False)
    warn = [m for m in logged if m.startswith("warning:")]
    assert len(warn) == 1 and "dataset.sampler.get_data_num" in warn[0] and "10" in warn[0] and " 3" in warn[0]
    assert str(p) in warn[0]
    assert len(read_manifest(mod)["calibration_files"]) == 3


# ---------------------------------------------------------------- vdsp JSON
def _vdsp_case(tmp_path, name, **over):
    d = json.loads(VDSP.read_text())
    d.update({k: v for k, v in over.items() if k == "OpType"})
    d["OpConfig"].update({k: v for k, v in over.items() if k != "OpType"})
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(d, indent=4))
    return p


VDSP_CASES = {
    "unknown_optype": ({"OpType": "FUSION_OP_RGB_RESIZE_SHARPEN"}, "OpType"),
    "crop_outside": ({"CropX": 10}, "OpConfig.CropX"),
    "crop_larger_than_resize": ({"OimageHeight": 80, "OimageWidth": 80}, "OpConfig.Crop"),
    "std_zero": ({"Std": [0.229, 0.0, 0.225]}, "OpConfig.Std"),
    "huge_resize": ({"ResizeWidth": 10 ** 9}, "OpConfig.ResizeWidth"),
}


@pytest.mark.parametrize("case", VDSP_CASES)
def test_bad_vdsp_check_and_infer(case, tmp_path, capsys):
    over, where = VDSP_CASES[case]
    p = _vdsp_case(tmp_path, case, **over)
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}: {where}" in err and "Traceback" not in err, err
    img = next((DIGITS_DIR / "val" / "2").iterdir())
    assert main(["infer", "--file-path", str(img), "--model-prefix", str(DATA_DIR / "tiny_64"),
                 "--vdsp-params", str(p), "--save-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    _one_line_error(capsys.readouterr().err, f"{p}: {where}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text,needle", [
    ('{"OpType": ', "line 1"),
    ("[" * 50000, "nested too deeply"),
    ('{"OpType": "x", "OpConfig": {"OimageWidth": 1' + "0" * 5000 + "}}", "not valid JSON"),
    ("[1, 2]", "JSON object"),
])
def test_broken_vdsp_files(text, needle, tmp_path, capsys):
    p = tmp_path / "v.json"
    p.write_text(text)
    with pytest.raises(Effv2nbError, match=needle):
        vdsp.load_vdsp(p)
    img = next((DIGITS_DIR / "val" / "2").iterdir())
    assert main(["infer", "--file-path", str(img), "--model-prefix", str(DATA_DIR / "tiny_64"),
                 "--vdsp-params", str(p), "--save-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    _one_line_error(capsys.readouterr().err, str(p))


def test_vdsp_size_disagrees_with_model(tmp_path, capsys):
    p = tmp_path / "tiny72.json"
    vdsp.save_vdsp(vdsp.generate_vdsp("tiny", size=72), p)
    assert main(["config", "check", str(p)]) == 0                    # fine on its own ...
    capsys.readouterr()
    img = next((DIGITS_DIR / "val" / "2").iterdir())
    assert main(["infer", "--file-path", str(img), "--model-prefix", str(DATA_DIR / "tiny_64"),
                 "--vdsp-params", str(p), "--save-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    _one_line_error(capsys.readouterr().err, f"{p}: OpConfig.OimageWidth", "72x72", "64x64")   # ... not for this model
    assert main(["config", "cross-check", str(CONFIGS / "tiny_int8.yaml"), str(p)]) == 1
    assert "input size" in capsys.readouterr().out


# ---------------------------------------------------------------- a real process: no traceback
@pytest.mark.parametrize("argv,make", [
    (["config", "check", "{d}/binary.yaml"], lambda d: (d / "binary.yaml").write_bytes(bytes(range(256)))),
    (["compile", "{d}/list.yaml"], lambda d: (d / "list.yaml").write_text("- a\n- b\n")),
    (["infer", "--file-path", "{d}/text.jpg", "--model-prefix", str(DATA_DIR / "tiny_64"),
      "--vdsp-params", str(VDSP), "--save-dir", "{d}/out", "--no-progress"],
     lambda d: (d / "text.jpg").write_text("not a photo")),
])
def test_subprocess_stderr_is_one_line(argv, make, tmp_path):
    make(tmp_path)
    argv = [a.replace("{d}", str(tmp_path)) for a in argv]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "effv2nb", *argv], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert str(tmp_path) in lines[0]
