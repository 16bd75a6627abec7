"""effv2nb.compile.run_config: the shipped build YAML for the loaded model, ready to compile."""
import pytest

from effv2nb.compile.run_config import config_for_run, shipped_config
from effv2nb.core.errors import Effv2nbError
from effv2nb.formats.build_config import load_build_config
from effv2nb.model import models


def test_tiny_compiles_the_shipped_file_as_it_is(tmp_path):
    model = models.load("tiny")
    assert config_for_run(model, "int8", tmp_path, 64) == shipped_config("tiny", "int8")


def test_another_size_gets_a_copy_with_its_own_export(tmp_path):
    model = models.load("tiny")
    out = config_for_run(model, "fp16", tmp_path, 32)
    cfg, _ = load_build_config(out, check_paths=True)
    assert out.parent == tmp_path and cfg.input_shape == [1, 3, 32, 32]
    assert cfg.checkpoint_path == tmp_path / "tiny_32.onnx" and cfg.workspace_path == tmp_path / "deploy_weights"
    assert cfg.backend.dtype == "fp16"


def test_an_imagenet_model_without_calibration_images_names_the_variable(tmp_path):
    with pytest.raises(Effv2nbError, match="EFFV2NB_CALIB_DIR"):
        config_for_run(models.load("efficientnetv2_rw_t", weights="random"), "int8", tmp_path, 128)
    with pytest.raises(Effv2nbError, match="no shipped build config"):
        shipped_config("tiny", "int4")


def test_vdsp_for_run_keeps_the_shipped_file_at_its_size_else_generates(tmp_path):
    from effv2nb.compile.run_config import shipped_vdsp, vdsp_for_run
    from effv2nb.formats.vdsp import resolve

    model = models.load("tiny")
    path, vdsp, note = vdsp_for_run(model, 64, tmp_path)
    assert path == shipped_vdsp("tiny") and note == "vdsp file tiny-vdsp_params.json"
    path, vdsp, note = vdsp_for_run(model, 32, tmp_path, chosen=shipped_vdsp("tiny"))
    assert path == tmp_path / "tiny-32-vdsp_params.json" and path.is_file()
    assert "is not at 32 px" in note and resolve(vdsp, 32).out_w == 32


def test_the_calibration_folder_sets_the_sampler_suffix(tmp_path):
    from PIL import Image

    (tmp_path / "calib" / "a").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (40, 40)).save(tmp_path / "calib" / "a" / f"{i}.jpg")
    out = config_for_run(models.load("tiny"), "int8", tmp_path, 32, calib_dir=tmp_path / "calib")
    cfg, _ = load_build_config(out, check_paths=True)
    assert cfg.dataset.sampler.suffix == "jpg" and cfg.dataset_path == (tmp_path / "calib").resolve()
