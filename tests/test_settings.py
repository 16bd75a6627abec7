"""effv2nb.core.settings: the notebooks' input size (EFFV2NB_SIZE) and work folder (EFFV2NB_WORK)."""
import pytest

from effv2nb.core import settings
from effv2nb.core.errors import Effv2nbError


def test_image_size_from_the_environment_or_the_model(monkeypatch):
    monkeypatch.delenv("EFFV2NB_SIZE", raising=False)
    assert settings.image_size(288) == 288
    monkeypatch.setenv("EFFV2NB_SIZE", " 128 ")
    assert settings.image_size(288) == 128


@pytest.mark.parametrize("raw,message", [("big", "not a whole number"), ("16", "from 32 to 1024"),
                                         ("4096", "from 32 to 1024"), ("12.5", "not a whole number")])
def test_a_bad_image_size_names_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv("EFFV2NB_SIZE", raw)
    with pytest.raises(Effv2nbError, match=message) as err:
        settings.image_size(288)
    assert "EFFV2NB_SIZE" in str(err.value)


def test_work_dir_from_the_environment_or_a_fresh_folder(tmp_path, monkeypatch):
    """EFFV2NB_WORK when set (created), else a new temporary folder named after the notebook."""
    monkeypatch.setenv("EFFV2NB_WORK", str(tmp_path / "w"))
    assert settings.work_dir("04") == (tmp_path / "w").resolve() and (tmp_path / "w").is_dir()
    monkeypatch.delenv("EFFV2NB_WORK")
    a, b = settings.work_dir("04"), settings.work_dir("04")
    assert a != b and a.name.startswith("effv2nb-04-") and a.is_dir()
