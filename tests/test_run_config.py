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
