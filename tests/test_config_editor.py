"""The config editor form, driven headless: what a click does (issue 4)."""
import shutil

import pytest
import yaml

from effv2nb.formats import build_config as config
from effv2nb.ui.config_editor import ConfigEditor, apply_form, check_form, form_values_from_config
from effv2nb.core.settings import DATA_DIR

CONFIGS = DATA_DIR / "configs"


@pytest.fixture
def editor(tmp_path):
    return ConfigEditor(CONFIGS / "tiny_int8.yaml", save_path=tmp_path / "edited.yaml")


def test_form_shows_config(editor):
    v = editor.values()
    assert v["dtype"] == "int8" and v["calibrate_mode"] == "percentile" and v["per_channel"] is True
    assert v["input_size"] == 64 and v["resize"] == "64, 64" and v["mean"].startswith("0.485")
    assert "valid" in editor.messages.value and not editor.save_button.disabled
    assert yaml.safe_load(editor.preview.value)["name"] == "effv2nb_tiny_int8"


def test_click_save_writes_valid_file(editor, tmp_path):
    editor.w["calibrate_mode"].value = "max"
    editor.w["per_channel"].value = False
    editor.w["data_num"].value = 12
    editor.w["input_size"].value = 72
    editor.w["resize"].value = "72, 72"
    editor.w["crop"].value = "72,72"
    editor.w["std"].value = "0.25 0.25 0.25"
    assert "calibrate_mode: max" in editor.preview.value
    editor.save_button.click()
    assert "saved" in editor.status.value
    cfg, warnings = config.load_build_config(tmp_path / "edited.yaml", check_paths=True)
    assert not warnings
    assert cfg.backend.quantize.calibrate_mode == "max" and cfg.backend.quantize.quantize_per_channel is False
    assert cfg.dataset.sampler.get_data_num == 12 and cfg.input_shape == [1, 3, 72, 72]
    assert cfg.dataset.process_ops[1]["size"] == [72, 72] and cfg.dataset.process_ops[3]["std"] == [0.25] * 3
    # a second save keeps the first as .bak
    editor.w["backend_type"].value = "tvm_runmodel"
    editor.save_button.click()
    assert (tmp_path / "edited.yaml.bak").is_file()
    assert config.load_build_config(tmp_path / "edited.yaml")[0].backend.type == "tvm_runmodel"


def test_invalid_value_blocks_save_and_names_key(editor, tmp_path):
    editor.w["mean"].value = "0.5, x, 0.5"
    assert editor.save_button.disabled
    assert "dataset.process_ops[3].mean" in editor.messages.value
    editor.save_button.click()
    assert "not saved" in editor.status.value and not (tmp_path / "edited.yaml").exists()
    editor.w["mean"].value = "0.5, 0.5, 0.5"
    assert not editor.save_button.disabled


def test_live_warning_for_missing_folder(editor):
    editor.w["dataset_path"].value = "../no_such_folder"
    assert "dataset.path" in editor.messages.value and "warning" in editor.messages.value


def test_fp16_disables_int8_fields(editor):
    editor.w["dtype"].value = "fp16"
    assert editor.w["calibrate_mode"].disabled and editor.w["per_channel"].disabled


def test_unknown_keys_survive_editor(tmp_path):
    raw = yaml.safe_load((CONFIGS / "tiny_int8.yaml").read_text())
    raw["backend"]["quantize"]["alibrate_mode"] = "kl_divergence"
    raw["vendor_extra"] = {"a": 1}
    src = tmp_path / "src.yaml"
    src.write_text(yaml.safe_dump(raw, sort_keys=False))
    shutil.copy(CONFIGS / "tiny_int8.yaml", tmp_path / "unused.yaml")
    ed = ConfigEditor(src, save_path=tmp_path / "out.yaml")
    assert "alibrate_mode" in ed.messages.value          # the did-you-mean warning is shown
    ed.w["data_num"].value = 5
    ed.save()
    out = yaml.safe_load((tmp_path / "out.yaml").read_text())
    assert out["vendor_extra"] == {"a": 1} and out["backend"]["quantize"]["alibrate_mode"] == "kl_divergence"
    assert list(out) == list(raw)


def test_pure_functions():
    cfg, _ = config.load_build_config(CONFIGS / "tiny_int8.yaml")
    v = form_values_from_config(cfg)
    assert apply_form(cfg.to_dict(), v) == cfg.to_dict()
    v["resize"] = "64"
    new, errors, _, text = check_form(cfg.to_dict(), v)
    assert new is None and errors[0].where == "dataset.process_ops[1].size" and text == ""


def test_open_editor_shows_a_broken_file_as_one_line(tmp_path):
    from effv2nb.ui.config_editor import open_editor

    bad = tmp_path / "broken.yaml"
    bad.write_text("backend: [unclosed\n")
    editor, widget = open_editor(bad)
    assert editor is None and "broken.yaml" in widget.value and "cannot open" in widget.value
    assert "\n" not in widget.value
