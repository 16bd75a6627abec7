"""The recipe a study scored, compiled from a build YAML, is the model it scored (notebook 05, section 8);
which of that YAML's keys the vendor's compiler reads (``formats.device_keys``)."""
import numpy as np
import onnx
import pytest
import yaml
from onnx import numpy_helper

from effv2nb.cli import main as cli
from effv2nb.core.settings import DATA_DIR
from effv2nb.formats import device_keys
from effv2nb.quant import int8_paths, int8_recipes, scored_build
from effv2nb.quant import int8_report as rep


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    work = tmp_path_factory.mktemp("scored")
    return rep.prepare("tiny", workdir=work, num_calib=24, limit=40, log=lambda _line: None)


def _scales(path) -> dict:
    m = onnx.load(str(path))
    return {i.name: numpy_helper.to_array(i) for i in m.graph.initializer if i.name.endswith("_scale")}


def _moved(s1, s2) -> float:
    """The largest relative change of any quantization scale between two models with the same nodes."""
    assert s1.keys() == s2.keys()
    return max(float(np.max(np.abs(s1[k] - s2[k]) / np.maximum(np.abs(s1[k]), 1e-12))) for k in s1)


def _compile(study, recipe, name):
    work = study.work
    out, folder = scored_build.scored_build(study, recipe, DATA_DIR / "configs" / "tiny_int8.yaml",
                                            work / f"{name}.yaml", work / "ws", name)
    assert cli.main(["compile", str(out), "--force"]) == 0
    from effv2nb.compile.graph_edit import without_extra_softmax

    mod = work / "ws" / name / "mod.onnx"
    return out, folder, without_extra_softmax(mod, work / f"{name}_logits.onnx")


def test_compile_builds_the_scored_recipe(study):
    # a percentile other than ONNX Runtime's default, 16 of the 24 calibration arrays, a node in float
    recipe = int8_recipes.Recipe("p99.9", "percentile", per_channel=True, reduce_range=False, num_calib=16,
                                 percentile=99.9, nodes_to_exclude=("/blocks/blocks.3/blocks.3.0/se/gate/Sigmoid",))
    scored = recipe.quantize(study.fp32, study.work / "scored.onnx", study.calib)
    out, folder, mod = _compile(study, recipe, "as_scored")

    raw = yaml.safe_load(out.read_text())
    q = raw["backend"]["quantize"]
    assert q["calib_percentile"] == 99.9 and q["calibrate_mode"] == "percentile"
    assert raw["dataset"]["sampler"] == {**raw["dataset"]["sampler"], "pick": "first", "get_data_num": 16}
    linked = sorted(p.resolve() for p in folder.iterdir())
    assert len(linked) == 16
    assert [p.resolve() for p in sorted(folder.iterdir())] == [p.resolve() for p in scored_build.calibration_files(study, recipe)]

    a = int8_paths.score(study.ref_sel, scored, study.sel, paths=("exact",))["exact_sqnr_db"]
    b = int8_paths.score(study.ref_sel, mod, study.sel, paths=("exact",))["exact_sqnr_db"]
    assert abs(a - b) < 0.3, (a, b)
    s1, s2 = _scales(scored), _scales(mod)
    # the same ranges up to the preprocessing: compile calibrates through the YAML's process_ops, the study
    # through the vdsp JSON, whose mean and std the vendor's format stores in float16 (5e-4 apart per pixel)
    assert _moved(s1, s2) < 2e-3

    # the percentile key matters: without it compile uses ONNX Runtime's 99.999 and the ranges move
    raw["backend"]["quantize"].pop("calib_percentile")
    raw["name"] = "default_percentile"
    other = study.work / "default_percentile.yaml"
    other.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert cli.main(["compile", str(other), "--force"]) == 0
    s3 = _scales(study.work / "ws" / "default_percentile" / "mod.onnx")
    assert _moved(s1, s3) > 10 * _moved(s1, s2), (_moved(s1, s3), _moved(s1, s2))


def test_what_reaches_the_device(study, capsys):
    recipe = int8_recipes.Recipe("best", "percentile", per_channel=True, reduce_range="auto", num_calib=8,
                                 percentile=99.99, nodes_to_exclude=("a", "b"))
    out, _ = scored_build.scored_build(study, recipe, DATA_DIR / "configs" / "tiny_int8.yaml",
                                       study.work / "reach.yaml", study.work / "ws", "reach")
    rows = {r["key"]: r for r in device_keys.reach(out)}
    assert rows["backend.quantize.calibrate_mode"]["vamc_reads"] and rows["dataset.path"]["vamc_reads"]
    for ignored in ("nodes_to_exclude", "calib_percentile", "reduce_range"):
        assert not rows[f"backend.quantize.{ignored}"]["vamc_reads"]
    assert rows["dataset.sampler.pick"]["value"] == "first"
    text = device_keys.format_reach(list(rows.values()))
    assert "ignores" in text and "nodes_to_exclude: nothing documented" in text


def test_a_bad_percentile_is_named(tmp_path):
    from helpers import shipped_config

    from effv2nb.formats.build_config import load_build_config
    from effv2nb.core.errors import Effv2nbError

    p = shipped_config(tmp_path, **{"backend.quantize.calib_percentile": 120})
    with pytest.raises(Effv2nbError, match="calib_percentile"):
        load_build_config(p)
    p = shipped_config(tmp_path, **{"backend.quantize.calib_percentile": 99.9, "backend.quantize.calibrate_mode": "max"})
    _, warnings = load_build_config(p)
    assert any("calib_percentile" in w and "ignored" in w for w in warnings)


def test_symmetric_activations_cannot_be_written_as_a_build(study):
    from effv2nb.core.errors import Effv2nbError

    with pytest.raises(Effv2nbError, match="symmetric"):
        int8_recipes.Recipe("s", activation_symmetric=True).build_yaml_quantize()
