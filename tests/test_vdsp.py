"""vdsp_params JSON: load, validate, generate, cross-check (issue 4)."""
import json
from pathlib import Path

import pytest

from effv2nb.cli import main as cli
from effv2nb.formats import build_config as config, vdsp
from effv2nb.formats.cross_check import cross_check
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "formats"
CONFIGS = DATA_DIR / "configs"
RW = ("efficientnetv2_rw_t", "efficientnetv2_rw_s", "efficientnetv2_rw_m")


@pytest.mark.parametrize("name", RW)
def test_generate_matches_vendor_file(name):
    vendor = FORMATS / f"timm-{name}-vdsp_params.json"
    if not vendor.is_file():
        pytest.skip("vendor examples not present")
    assert vdsp.generate_vdsp(name) == json.loads(vendor.read_text())
    assert vdsp.dumps_vdsp(vdsp.generate_vdsp(name)) == vendor.read_text()


@pytest.mark.parametrize("name", RW + ("tiny",))
def test_shipped_vdsp_is_generated(name):
    p = CONFIGS / (f"timm-{name}-vdsp_params.json" if name != "tiny" else "tiny-vdsp_params.json")
    assert vdsp.load_vdsp(p) == vdsp.generate_vdsp(name)


def test_float16_rounding():
    assert vdsp.f16(0.485) == 0.485107421875
    d = vdsp.generate_vdsp("tiny", size=80)
    assert d["OpConfig"]["OimageWidth"] == 80 and d["OpConfig"]["Std"][0] == vdsp.f16(0.229)


def _vendor():
    return vdsp.generate_vdsp("efficientnetv2_rw_t")


@pytest.mark.parametrize("key,value,where", [
    ("NormaType", "DIV256", "OpConfig.NormaType"),
    ("ColorCvtCode", "RGB2HSV", "OpConfig.ColorCvtCode"),
    ("ResizeType", "BICUBIC", "OpConfig.ResizeType"),
    ("OimageWidth", -3, "OpConfig.OimageWidth"),
    ("Mean", [0.5, 0.5], "OpConfig.Mean"),
    ("Std", [0.2, 0.0, 0.2], "OpConfig.Std"),
    ("Mean", [123.7, 116.3, 103.5], "OpConfig.Mean"),    # 0-255 values with DIV255_MINUSMEAN_DIVSTD
    ("CropX", 10, "OpConfig.CropX"),                     # crop leaves the resized image
])
def test_validate_rejects(key, value, where):
    d = _vendor()
    d["OpConfig"][key] = value
    errors, _ = vdsp.validate_vdsp(d, "x.json")
    assert errors and any(e.where == where for e in errors), [str(e) for e in errors]
    assert "x.json" in str(errors[0])


def test_validate_optype():
    d = _vendor()
    d["OpType"] = "FUSION_OP_FOO"
    errors, _ = vdsp.validate_vdsp(d)
    assert errors[0].where == "OpType" and "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR" in str(errors[0])


@pytest.mark.parametrize("norma", vdsp.NORMA_TYPES)
@pytest.mark.parametrize("cvt", vdsp.COLOR_CVT_CODES)
@pytest.mark.parametrize("resize", vdsp.RESIZE_TYPES)
def test_all_enum_values_accepted(norma, cvt, resize):
    c = {"IimageFormat": "RGB_PLANAR", "ResizeType": resize, "NormaType": norma, "ColorCvtCode": cvt}
    if norma == "DIV255_MINUSMEAN_DIVSTD":
        c.update(Mean=[0.485, 0.456, 0.406], Std=[0.229, 0.224, 0.225])
    if norma == "MINUSMEAN_DIVSTD":
        c.update(Mean=[123.6875, 116.25, 103.5], Std=[58.4, 57.1, 57.4])
    for op in vdsp.OP_TYPES:
        errors, _ = vdsp.validate_vdsp({"OpType": op, "OpConfig": c})
        assert not errors, [str(e) for e in errors]


def test_minimal_file_without_mean_needs_it():
    c = {"OpType": vdsp.NOCROP_OP, "OpConfig": {"NormaType": "MINUSMEAN_DIVSTD", "ColorCvtCode": "NO_CHANGE"}}
    errors, _ = vdsp.validate_vdsp(c)
    assert {e.where for e in errors} == {"OpConfig.Mean", "OpConfig.Std"}


def test_load_bad_json(tmp_path):
    p = tmp_path / "v.json"
    p.write_text('{"OpType": ')
    with pytest.raises(Effv2nbError, match="not valid JSON"):
        vdsp.load_vdsp(p)


def test_save_atomic_backup(tmp_path):
    p = tmp_path / "v.json"
    vdsp.save_vdsp(vdsp.generate_vdsp("tiny"), p)
    vdsp.save_vdsp(vdsp.generate_vdsp("tiny", size=72), p)
    assert json.loads((tmp_path / "v.json.bak").read_text())["OpConfig"]["OimageWidth"] == 64
    assert vdsp.load_vdsp(p)["OpConfig"]["OimageWidth"] == 72
    bad = vdsp.generate_vdsp("tiny")
    bad["OpConfig"]["NormaType"] = "NOPE"
    with pytest.raises(Effv2nbError, match="NormaType"):
        vdsp.save_vdsp(bad, p)
    assert vdsp.load_vdsp(p)["OpConfig"]["OimageWidth"] == 72


def test_cross_check_agree_and_disagree():
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    assert cross_check(cfg, vdsp.load_vdsp(CONFIGS / "tiny-vdsp_params.json")) == []
    rw = vdsp.load_vdsp(CONFIGS / "timm-efficientnetv2_rw_t-vdsp_params.json")
    diffs = cross_check(cfg, rw)
    assert any(d.startswith("input size") for d in diffs)
    d = vdsp.generate_vdsp("tiny")
    d["OpConfig"]["Mean"] = [0.5, 0.5, 0.5]
    d["OpConfig"]["ColorCvtCode"] = "RGB2BGR"
    d["OpConfig"]["ResizeWidth"] = d["OpConfig"]["ResizeHeight"] = 72
    d["OpConfig"]["CropX"] = d["OpConfig"]["CropY"] = 4
    diffs = cross_check(cfg, d)
    kinds = {x.split(":")[0] for x in diffs}
    assert {"mean", "colour order", "resize", "crop"} <= kinds, diffs


def test_cross_check_0_255_scale():
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    d = vdsp.generate_vdsp("tiny")
    d["OpConfig"]["NormaType"] = "MINUSMEAN_DIVSTD"
    d["OpConfig"]["Mean"] = [x * 255 for x in d["OpConfig"]["Mean"]]
    d["OpConfig"]["Std"] = [x * 255 for x in d["OpConfig"]["Std"]]
    assert cross_check(cfg, d) == []


def test_cli_vdsp_prints_vendor_json(capsys):
    assert cli.main(["config", "vdsp", "--model", "efficientnetv2_rw_t", "--size", "288"]) == 0
    assert json.loads(capsys.readouterr().out) == vdsp.generate_vdsp("efficientnetv2_rw_t")


def test_cli_check_vdsp(tmp_path, capsys):
    p = tmp_path / "v.json"
    d = vdsp.generate_vdsp("tiny")
    p.write_text(json.dumps(d))
    assert cli.main(["config", "check", str(p)]) == 0
    d["OpConfig"]["ResizeType"] = "LANCZOS"
    p.write_text(json.dumps(d))
    assert cli.main(["config", "check", str(p)]) == 2
    assert "OpConfig.ResizeType" in capsys.readouterr().err
