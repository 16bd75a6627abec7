"""effv2nb.formats.config_copy: a shipped build YAML adapted to a run (paths, size, names)."""
import pytest

from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR
from effv2nb.formats.build_config import load_build_config, read_yaml
from effv2nb.formats.config_copy import copy_config


def test_copy_resolves_paths_and_sets_the_size(tmp_path):
    base = DATA_DIR / "configs" / "efficientnetv2_rw_t_int8.yaml"
    onnx = tmp_path / "efficientnetv2_rw_t_128.onnx"
    onnx.write_bytes(b"x")
    out = copy_config(base, tmp_path / "c.yaml", checkpoint=onnx, calib_dir=tmp_path, workspace=tmp_path / "ws",
                      name="run", size=128)
    cfg, warnings = load_build_config(out)
    assert cfg.input_shape == [1, 3, 128, 128]
    ops = {op["type"]: op for op in cfg.dataset.process_ops}
    assert ops["Resize"]["size"] == [128, 128] and ops["CenterCrop"]["crop_size"] == [128, 128]
    assert cfg.checkpoint_path == onnx.resolve() and cfg.dataset_path == tmp_path.resolve()
    assert cfg.raw["name"] == "run" and cfg.backend.quantize.calibrate_mode == "percentile"   # kept as shipped


def test_copy_keeps_the_size_and_resolves_relative_paths(tmp_path):
    base = DATA_DIR / "configs" / "tiny_fp16.yaml"
    out = copy_config(base, tmp_path / "c.yaml")
    raw = read_yaml(out)
    assert raw["frontend"]["shape"]["input"] == [1, 3, 64, 64]
    assert raw["frontend"]["checkpoint"] == str((DATA_DIR / "tiny_64.onnx").resolve())


def test_copy_refuses_a_shape_it_cannot_resize(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((DATA_DIR / "configs" / "tiny_fp16.yaml").read_text().replace("    - 1\n    - 3\n", "", 1))
    with pytest.raises(Effv2nbError, match="frontend.shape.input"):
        copy_config(bad, tmp_path / "c.yaml", size=32)
    assert not (tmp_path / "c.yaml").exists()
