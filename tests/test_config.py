"""The build YAML: typed model, validation, round-trip save, CLI check (issue 4)."""
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from effv2nb.cli import main as cli
from effv2nb.formats import build_config as config
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "formats"
VENDOR = FORMATS / "timm_efficientnet.yaml"
CONFIGS = DATA_DIR / "configs"


@pytest.fixture
def vendor_text():
    if VENDOR.is_file():
        return VENDOR.read_text()
    pytest.skip("vendor example not present")


def test_vendor_example_loads(vendor_text, tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text(vendor_text)
    cfg, warnings = config.load_build_config(p)
    assert cfg.name == "timm_efficientnetv2_int8"
    assert cfg.input_name == "input" and cfg.input_shape == [1, 3, 288, 288]
    assert cfg.backend.dtype == "int8" and cfg.backend.quantize.calibrate_mode == "kl_divergence"
    assert cfg.backend.quantize.quantize_per_channel is True
    assert cfg.extra_op == "softmax" and cfg.dataset.sampler.suffix == "JPEG"
    assert [op["type"] for op in cfg.dataset.process_ops] == ["DecodeImage", "Resize", "CenterCrop", "Normalize", "ToTensor"]
    # the /path/to placeholders are warnings, not errors
    assert any("frontend.checkpoint" in w for w in warnings) and any("dataset.path" in w for w in warnings)


def test_misspelt_key_kept_and_suggested(vendor_text, tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text(vendor_text.replace("calibrate_mode", "alibrate_mode"))
    cfg, warnings = config.load_build_config(p)
    hit = [w for w in warnings if "backend.quantize.alibrate_mode" in w]
    assert hit and "did you mean 'calibrate_mode'" in hit[0] and str(p) in hit[0]
    out = tmp_path / "out.yaml"
    config.save_build_config(cfg, out)
    assert yaml.safe_load(out.read_text())["backend"]["quantize"]["alibrate_mode"] == "kl_divergence"


def _keys(d, prefix=""):
    out = []
    for k, v in d.items():
        out.append(prefix + str(k))
        if isinstance(v, dict):
            out += _keys(v, prefix + str(k) + ".")
    return out


def test_round_trip_keeps_order_and_unknown(vendor_text, tmp_path):
    raw = yaml.safe_load(vendor_text)
    raw["zz_top"] = {"keep": [1, 2]}
    raw["backend"]["compile"]["vendor_knob"] = 7
    # reorder: dataset before backend
    raw = {k: raw[k] for k in ["name", "dataset", "frontend", "backend", "graph", "workspace", "zz_top"]}
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg, _ = config.load_build_config(p)
    config.save_build_config(cfg, p)
    again = yaml.safe_load(p.read_text())
    assert _keys(again) == _keys(raw)
    assert again == raw
    assert (tmp_path / "a.yaml.bak").is_file()


def test_save_typed_changes(tmp_path):
    shutil.copy(CONFIGS / "tiny_int8.yaml", tmp_path / "t.yaml")
    cfg, _ = config.load_build_config(tmp_path / "t.yaml")
    cfg.backend.quantize.calibrate_mode = "max"
    cfg.backend.quantize.nodes_to_exclude = ["/conv_stem/Conv"]
    cfg.dataset.sampler.get_data_num = 7
    config.save_build_config(cfg, tmp_path / "t.yaml")
    cfg2, w = config.load_build_config(tmp_path / "t.yaml")
    assert cfg2.backend.quantize.calibrate_mode == "max" and cfg2.dataset.sampler.get_data_num == 7
    assert cfg2.backend.quantize.nodes_to_exclude == ["/conv_stem/Conv"]
    assert yaml.safe_load((tmp_path / "t.yaml.bak").read_text())["backend"]["quantize"]["calibrate_mode"] == "percentile"


def test_save_refuses_invalid_and_keeps_file(tmp_path):
    shutil.copy(CONFIGS / "tiny_int8.yaml", tmp_path / "t.yaml")
    before = (tmp_path / "t.yaml").read_text()
    cfg, _ = config.load_build_config(tmp_path / "t.yaml")
    cfg.backend.dtype = "int4"
    with pytest.raises(Effv2nbError) as exc:
        config.save_build_config(cfg, tmp_path / "t.yaml")
    assert exc.value.where == "backend.dtype" and "int8" in str(exc.value)
    assert (tmp_path / "t.yaml").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


BROKEN = [
    (["backend", "quantize", "calibrate_mode"], "entropy", "backend.quantize.calibrate_mode", "kl_divergence"),
    (["backend", "dtype"], "int4", "backend.dtype", "fp16"),
    (["backend", "type"], "tvm_gpu", "backend.type", "tvm_vacc"),
    (["frontend", "type"], "tflite", "frontend.type", "onnx"),
    (["frontend", "shape", "input"], [1, 3, 288], "frontend.shape.input", "[N, C, H, W]"),
    (["frontend", "shape", "input"], [1, 1, 288, 288], "frontend.shape.input", "channels"),
    (["backend", "quantize", "quantize_per_channel"], "yes", "backend.quantize.quantize_per_channel", "true or false"),
    (["dataset", "sampler", "get_data_num"], 0, "dataset.sampler.get_data_num", "positive integer"),
    (["dataset", "process_ops"], [{"type": "Resize", "size": [288]}], "dataset.process_ops[0].size", "[height, width]"),
    (["dataset", "process_ops"], [{"type": "Normalize", "mean": [0.5], "std": [1, 1, 1]}], "dataset.process_ops[0].mean", "3 numbers"),
    (["dataset", "process_ops"], [{"type": "CvtColor", "code": "COLOR_RGB2HSV"}], "dataset.process_ops[0].code", "COLOR_RGB2BGR"),
    (["graph", "extra_ops", "type"], "sigmoid", "graph.extra_ops.type", "softmax"),
    (["workspace"], "oops", "workspace", "mapping"),
    (["name"], "", "name", "non-empty"),
    (["backend", "quantize", "reduce_range"], 1, "backend.quantize.reduce_range", "true, false or auto"),
    (["backend", "quantize", "activation_type"], "int4", "backend.quantize.activation_type", "uint8"),
]


@pytest.mark.parametrize("keys,value,where,allowed", BROKEN)
def test_errors_name_file_key_and_allowed(keys, value, where, allowed, tmp_path, capsys):
    raw = yaml.safe_load((CONFIGS / "tiny_int8.yaml").read_text())
    d = raw
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value
    p = tmp_path / "b.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(Effv2nbError) as exc:
        config.load_build_config(p)
    msg = str(exc.value)
    assert str(p) in msg and where in msg and allowed in msg, msg
    assert cli.main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert where in err and err.count("\nerror:") + err.startswith("error:") >= 1


def test_missing_sections(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("name: x\n")
    errors, _ = config.validate_build(yaml.safe_load(p.read_text()), p)
    assert {"frontend", "backend", "workspace"} <= {e.where for e in errors}


def test_yaml_syntax_error_names_line(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text("name: x\nfrontend:\n  shape: [1, 2\n")
    with pytest.raises(Effv2nbError, match="line"):
        config.load_build_config(p)
    assert cli.main(["config", "check", str(p)]) == 2


def test_paths_resolve(tmp_path, monkeypatch):
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    assert cfg.checkpoint_path.resolve() == (DATA_DIR / "tiny_64.onnx").resolve()
    assert cfg.dataset_path.resolve() == (DATA_DIR / "digits" / "calib").resolve()
    monkeypatch.chdir(tmp_path)
    assert cfg.workspace_path.resolve() == (tmp_path / "deploy_weights").resolve()


def test_missing_paths_are_errors_only_when_asked(tmp_path):
    raw = yaml.safe_load((CONFIGS / "tiny_int8.yaml").read_text())
    raw["frontend"]["checkpoint"] = "nope.onnx"
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    _, warnings = config.load_build_config(p)
    assert any("frontend.checkpoint" in w for w in warnings)
    with pytest.raises(Effv2nbError, match="frontend.checkpoint"):
        config.load_build_config(p, check_paths=True)


def test_save_elsewhere_keeps_paths_pointing_at_same_files(tmp_path):
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    config.save_build_config(cfg, tmp_path / "moved.yaml")
    moved, warnings = config.load_build_config(tmp_path / "moved.yaml", check_paths=True)
    assert moved.checkpoint_path.resolve() == (DATA_DIR / "tiny_64.onnx").resolve()
    assert not warnings


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")) + sorted(CONFIGS.glob("*.json")), ids=lambda p: p.name)
def test_shipped_files_pass_check(path, capsys):
    assert cli.main(["config", "check", str(path)]) == 0


def test_cli_check_vendor_files(capsys):
    files = sorted(FORMATS.glob("*.yaml")) + sorted(FORMATS.glob("*.json"))
    if not files:
        pytest.skip("vendor examples not present")
    for f in files:
        assert cli.main(["config", "check", str(f)]) == 0, f
    err = capsys.readouterr().err
    assert "warning:" in err and "/path/to/" in err


def test_tiny_int8_is_what_the_issue_asks():
    cfg, warnings = config.load_build_config(CONFIGS / "tiny_int8.yaml", check_paths=True)
    assert not warnings
    assert cfg.backend.dtype == "int8"
    assert cfg.dataset_path.resolve() == (DATA_DIR / "digits" / "calib").resolve()
    assert cfg.checkpoint_path.is_file()


def test_new_build_config_shapes():
    cfg = config.new_build_config("efficientnetv2_rw_s", "fp16")
    assert cfg.input_shape == [1, 3, 384, 384] and cfg.backend.dtype == "fp16"
    assert cfg.frontend.checkpoint == "efficientnetv2_rw_s_384.onnx"


_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12)
_val = st.one_of(st.integers(-5, 5), st.booleans(), st.text(alphabet="abc xyz", max_size=8),
                 st.lists(st.integers(0, 9), max_size=3))


@settings(max_examples=25, deadline=None)
@given(extra=st.dictionaries(_key, _val, min_size=1, max_size=4))
def test_unknown_keys_survive_round_trip(extra, tmp_path_factory):
    base = yaml.safe_load((CONFIGS / "tiny_fp16.yaml").read_text())
    raw = dict(base)
    for k, v in extra.items():
        if k not in raw:
            raw[k] = v
    raw.setdefault("backend", {}).setdefault("compile", {}).update({"x_" + k: v for k, v in extra.items()})
    folder = tmp_path_factory.mktemp("rt")
    shutil.copy(CONFIGS / "tiny_fp16.yaml", folder / "dummy")
    p = folder / "r.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg, _ = config.load_build_config(p)
    config.save_build_config(cfg, p)
    assert yaml.safe_load(p.read_text()) == raw
