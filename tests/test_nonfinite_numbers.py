"""Numbers that are not numbers: ``NaN``, ``Infinity``, ``.nan``, ``.inf``, ``1e400`` and values too large
for their field are refused wherever a number is read, naming the key (or the line, or the file).
``config check`` and the commands that use a file share one validator: whatever one refuses the other
refuses for the same key, and a file ``config check`` passes is not refused later."""
import copy
import json
import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import shipped_config

from effv2nb.formats import build_config as config, result_file as results, vdsp
from effv2nb.ui import config_editor
from effv2nb.device import npz
from effv2nb.formats import vdsp as preprocess  # load_vdsp and resolve, what infer runs, live with the vdsp format
from effv2nb.cli.main import main
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR

CONFIGS = DATA_DIR / "configs"
VDSP_RAW = json.loads((CONFIGS / "tiny-vdsp_params.json").read_text())
PREFIX = DATA_DIR / "tiny_64"
IMAGE = sorted((DIGITS_DIR / "val" / "6").glob("*.png"))[0]


def _err_line(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- vdsp JSON: config check == infer
def _vdsp_text(path_keys, literal, base=None):
    """The tiny vdsp file with the value at ``path_keys`` written as the JSON literal ``literal``."""
    d = copy.deepcopy(base or VDSP_RAW)
    node = d
    for k in path_keys[:-1]:
        node = node[k]
    node[path_keys[-1]] = "@@"
    return json.dumps(d, indent=4).replace('"@@"', literal)


VDSP_CASES = {   # name: (key path, literal, where the error points, words)
    "mean_NaN": (("OpConfig", "Mean", 0), "NaN", "OpConfig.Mean[0]", "not a finite number"),
    "mean_Infinity": (("OpConfig", "Mean", 1), "Infinity", "OpConfig.Mean[1]", "not a finite number"),
    "std_minus_Infinity": (("OpConfig", "Std", 2), "-Infinity", "OpConfig.Std[2]", "not a finite number"),
    "std_1e400": (("OpConfig", "Std", 0), "1e400", "OpConfig.Std[0]", "not a finite number"),
    "width_NaN": (("OpConfig", "OimageWidth"), "NaN", "OpConfig.OimageWidth", "not a finite number"),
    "resize_1e400": (("OpConfig", "ResizeHeight"), "1e400", "OpConfig.ResizeHeight", "not a finite number"),
    "cropx_Infinity": (("OpConfig", "CropX"), "Infinity", "OpConfig.CropX", "not a finite number"),
    "width_huge_int": (("OpConfig", "OimageWidth"), "1" + "0" * 30, "OpConfig.OimageWidth", "too large"),
    "pitch_over_limit": (("OpConfig", "IimageWidthPitch"), "99999", "OpConfig.IimageWidthPitch", "pixel limit"),
    "mean_over_float16": (("OpConfig", "Mean", 0), "70000.0", "OpConfig.Mean", "too large for float16"),
    "std_rounds_to_zero": (("OpConfig", "Std", 1), "1e-9", "OpConfig.Std", "rounds to 0 in float16"),
    "unknown_key_NaN": (("OpConfig", "Gain"), "NaN", "OpConfig.Gain", "not a finite number"),
}


@pytest.mark.parametrize("case", VDSP_CASES)
def test_vdsp_number_refused_by_check_and_by_infer(case, tmp_path, capsys):
    keys, literal, where, words = VDSP_CASES[case]
    p = tmp_path / "v.json"
    p.write_text(_vdsp_text(keys, literal))
    assert json.loads(p.read_text()) is not None           # Python's json reads it: the suite must not
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"error: {p}: {where}" in err and words in err and "Traceback" not in err, err
    assert main(["infer", "--file-path", str(IMAGE), "--model-prefix", str(PREFIX), "--vdsp-params", str(p),
                 "--save-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    line = _err_line(capsys)
    assert line.startswith(f"error: {p}: {where}") and words in line, line
    assert not (tmp_path / "out").exists()


def test_mean_as_0_255_values_fits_float16_and_passes(tmp_path, capsys):
    """The other way round: values the device can hold pass both (MINUSMEAN_DIVSTD takes 0-255 means)."""
    d = copy.deepcopy(VDSP_RAW)
    d["OpConfig"].update(NormaType="MINUSMEAN_DIVSTD", Mean=[123.675, 116.28, 103.53], Std=[58.395, 57.12, 57.375])
    p = tmp_path / "v.json"
    p.write_text(json.dumps(d))
    assert main(["config", "check", str(p)]) == 0
    assert main(["infer", "--file-path", str(IMAGE), "--model-prefix", str(PREFIX), "--vdsp-params", str(p),
                 "--save-dir", str(tmp_path / "out"), "--no-progress"]) == 0
    capsys.readouterr()


_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 20000),
                    st.integers(), st.sampled_from([0, 1, 32, 63, 64, 65, 1e-9, 65504.0, 70000.0, -1]))
_num_keys = st.sampled_from(["OimageWidth", "OimageHeight", "ResizeWidth", "ResizeHeight", "CropX", "CropY",
                             "IimageWidth", "IimageWidthPitch", ("Mean", 0), ("Mean", 2), ("Std", 1)])


@st.composite
def _number_mutations(draw):
    d = copy.deepcopy(VDSP_RAW)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(_num_keys)
        value = draw(_number)
        if isinstance(key, tuple):
            d["OpConfig"][key[0]][key[1]] = value
        elif draw(st.booleans()) or key not in d["OpConfig"]:
            d["OpConfig"][key] = value
        else:
            del d["OpConfig"][key]
    if draw(st.booleans()):
        d["OpType"] = vdsp.NOCROP_OP
        for k in ("CropX", "CropY"):
            d["OpConfig"].pop(k, None)
    return d


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("agree")


@settings(max_examples=400, deadline=None, database=None, derandomize=os.environ.get("EFFV2NB_FUZZ_RANDOM") != "1",
          suppress_health_check=list(HealthCheck))
@given(doc=_number_mutations())
def test_check_and_infer_agree_on_every_number(scratch, doc):
    """``config check``'s verdict is what ``infer`` does with the file itself (before any model):
    passed -> the host preprocessing takes it; refused -> infer refuses the same key."""
    p = scratch / "v.json"
    p.write_text(json.dumps(doc))                          # NaN / Infinity as Python's json writes them
    from effv2nb.cli.config import check_file
    _, errors, _ = check_file(p)                           # what `config check` runs
    try:
        loaded = preprocess.load_vdsp(p)                   # what infer runs ...
        c = loaded["OpConfig"]
        preprocess.resolve(loaded, None if "OimageWidth" in c and "OimageHeight" in c else 64)   # ... and next
        infer_error = None
    except Effv2nbError as exc:
        infer_error = exc
    if not errors:
        assert infer_error is None, f"config check passed, infer refused: {infer_error}"
    else:
        assert infer_error is not None and infer_error.where == errors[0].where, (errors[0], infer_error)


# ---------------------------------------------------------------- build YAML: config check == compile == editor
BUILD_CASES = {   # name: (dotted key, YAML literal, where, words)
    "mean_nan": ("dataset.process_ops.3.mean.0", ".nan", "dataset.process_ops[3].mean[0]", "not a finite number"),
    "std_inf": ("dataset.process_ops.3.std.1", ".inf", "dataset.process_ops[3].std[1]", "not a finite number"),
    "mean_minus_inf": ("dataset.process_ops.3.mean.2", "-.inf", "dataset.process_ops[3].mean[2]", "not a finite"),
    "std_1e400": ("dataset.process_ops.3.std.0", "1.0e+400", "dataset.process_ops[3].std[0]", "not a finite"),
    "shape_nan": ("frontend.shape.input.2", ".NaN", "frontend.shape.input[2]", "not a finite number"),
    "data_num_inf": ("dataset.sampler.get_data_num", ".inf", "dataset.sampler.get_data_num", "not a finite"),
    "compile_knob_nan": ("backend.compile.cluster_mode", ".nan", "backend.compile.cluster_mode", "not a finite"),
    "unknown_key_inf": ("extra_setting", ".inf", "extra_setting", "not a finite number"),
    "shape_huge_int": ("frontend.shape.input.3", "1" + "0" * 30, "frontend.shape.input[3]", "too large"),
    "shape_over_pixel_limit": ("frontend.shape.input.3", "100000", "frontend.shape.input", "pixel limit"),
    "batch_over_limit": ("frontend.shape.input.0", "5000", "frontend.shape.input", "batch"),
    "data_num_over_32_bits": ("dataset.sampler.get_data_num", str(2 ** 40), "dataset.sampler.get_data_num", "up to"),
    "resize_over_pixel_limit": ("dataset.process_ops.1.size.0", "99999", "dataset.process_ops[1].size", "pixel limit"),
    "mean_over_float32": ("dataset.process_ops.3.mean.1", "1.0e+39", "dataset.process_ops[3].mean",
                          "too large for float32"),
}


def _build_with(tmp_path, dotted, literal):
    p = shipped_config(tmp_path, "tiny_int8.yaml", **{"workspace.path": str(tmp_path / "ws"),
                                                       "dataset.sampler.get_data_num": 4})
    raw = yaml.safe_load(p.read_text())
    node = raw
    keys = [int(k) if k.isdigit() else k for k in dotted.split(".")]
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = "@@"
    text = yaml.safe_dump(raw, sort_keys=False).replace("'@@'", literal)
    p.write_text(text)
    return p


@pytest.mark.parametrize("case", BUILD_CASES)
def test_build_number_refused_by_check_compile_and_editor(case, tmp_path, capsys):
    dotted, literal, where, words = BUILD_CASES[case]
    p = _build_with(tmp_path, dotted, literal)
    raw = yaml.safe_load(p.read_text())
    assert raw is not None                                     # YAML reads it: the suite must not
    assert main(["config", "check", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"error: {p}: {where}" in err and words in err, err
    assert main(["compile", str(p)]) == 2
    line = _err_line(capsys)
    assert line.startswith(f"error: {p}: {where}") and words in line, line
    assert not (tmp_path / "ws").exists()
    errors, _ = config.validate_build(raw, p)                 # the editor's live check: the same verdict
    assert any(e.where and e.where.startswith(where) and words in e.message for e in errors), errors


@pytest.mark.parametrize("text", ["nan, 0.456, 0.406", "0.485, inf, 0.406", "0.485, 0.456, -1e400"])
def test_editor_text_fields_refuse_non_finite(text, tmp_path):
    p = shipped_config(tmp_path, "tiny_int8.yaml")
    ed = config_editor.ConfigEditor(p)
    before = p.read_bytes()
    ed.w["mean"].value = text
    assert ed.errors and ed.save_button.disabled
    assert any(e.where.startswith("dataset.process_ops[3].mean") and "finite" in e.message for e in ed.errors)
    with pytest.raises(Effv2nbError, match="finite"):
        ed.save()
    assert p.read_bytes() == before


# ---------------------------------------------------------------- result files, npz files, writers
@pytest.mark.parametrize("prob", ["nan", "inf", "-inf", "1e400", "-1e999"])
def test_result_file_prob_must_be_finite(prob, tmp_path, capsys):
    good = results.format_record("/v/1/a.png", [1, 2], [0.6, 0.4], ["1", "2"])
    p = tmp_path / "r.txt"
    p.write_text(good + good.replace("/v/1/a.png", "/v/2/b.png").replace("prob: 0.40000000", f"prob: {prob}"))
    assert main(["eval-topk", str(p), "--label-txt", str(DIGITS_DIR / "labels.txt")]) == 2
    line = _err_line(capsys)
    assert line.startswith(f"error: {p}: line 4: prob '{prob}' is not a finite number"), line


@pytest.mark.parametrize("bad,words", [(np.nan, "not finite"), (np.inf, "not finite"), (1e300, "too large for float32")],
                         ids=["nan", "inf", "beyond_float32"])
def test_npz_decode_refuses_scores_that_are_not_numbers(bad, words, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for i in range(2):
        scores = np.linspace(0, 1, 10)
        if i == 1:
            scores[3] = bad
        np.savez(out / f"output_{i:06d}.npz", output_0=scores)
    dl = tmp_path / "dl.txt"
    dl.write_text("/a/1/x.npz\n/a/2/y.npz\n")
    assert main(["npz-decode", str(dl), str(out), str(tmp_path / "r.txt")]) == 2
    line = _err_line(capsys)
    assert f"output_000001.npz: 'output_0' holds scores" in line and words in line, line
    assert not (tmp_path / "r.txt").exists()


def test_npz_input_must_be_uint8(tmp_path):
    p = tmp_path / "a" / "x.npz"
    p.parent.mkdir()
    np.savez(p, input_0=np.full((3, 8, 8), np.nan, np.float32))
    dl = tmp_path / "dl.txt"
    dl.write_text(f"{p}\n")
    from effv2nb.device import runtime
    with pytest.raises(Effv2nbError, match="uint8 image"):
        npz.run_datalist(runtime.open_runner("ort", PREFIX), dl, tmp_path / "out", VDSP_RAW)


def test_no_writer_puts_a_non_finite_score_in_a_result_file(tmp_path):
    p = tmp_path / "r.txt"
    with pytest.raises(Effv2nbError, match="finite"):
        results.write(p, [("/v/1/a.png", [1, 2], [float("nan"), 0.4], ["1", "2"])])
    assert not p.exists() and not list(tmp_path.iterdir())
