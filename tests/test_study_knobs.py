"""effv2nb.quant.study_knobs: the knobs that shorten notebook 05's long steps, full and CI-sized."""
import pytest

from effv2nb.core.errors import Effv2nbError
from effv2nb.quant import study_knobs as k

ENVS = (k.TABLE_MODES_ENV, k.LEVERS_ENV, k.SEARCH_GROUPS_ENV, k.SEARCH_STEPS_ENV, k.EMULATED_IMAGES_ENV)


@pytest.fixture
def clean(monkeypatch):
    for env in ENVS:
        monkeypatch.delenv(env, raising=False)
    return monkeypatch


def test_full_and_quick_defaults(clean):
    clean.delenv("EFFV2NB_QUICK", raising=False)
    assert k.table_modes() == ("max", "percentile", "kl_divergence")
    assert k.levers() is None and k.search_groups() == "blocks" and k.search_steps() == 6
    assert k.emulated_images("tiny") == 16 and k.emulated_images("efficientnetv2_rw_t") == 2
    clean.setenv("EFFV2NB_QUICK", "1")
    assert k.table_modes() == ("max", "percentile")
    assert k.levers() == 4 and k.search_groups() == "stages" and k.search_steps() == 4
    assert k.emulated_images("tiny") == 4 and k.emulated_images("efficientnetv2_rw_t") == 1


def test_set_values_win_over_quick(clean):
    clean.setenv("EFFV2NB_QUICK", "1")
    clean.setenv(k.TABLE_MODES_ENV, "kl_divergence")
    clean.setenv(k.LEVERS_ENV, "2")
    clean.setenv(k.SEARCH_GROUPS_ENV, "blocks")
    clean.setenv(k.SEARCH_STEPS_ENV, "0")
    clean.setenv(k.EMULATED_IMAGES_ENV, "0")
    assert k.table_modes() == ("kl_divergence",) and k.levers() == 2 and k.search_groups() == "blocks"
    assert k.search_steps() == 0 and k.emulated_images("tiny") == 0


@pytest.mark.parametrize("env,value", [(k.TABLE_MODES_ENV, "mse"), (k.TABLE_MODES_ENV, ","), (k.LEVERS_ENV, "0"),
                                       (k.LEVERS_ENV, "two"), (k.SEARCH_GROUPS_ENV, "layers"),
                                       (k.SEARCH_STEPS_ENV, "-1"), (k.EMULATED_IMAGES_ENV, "1.5")])
def test_bad_values_are_refused_naming_the_variable(clean, env, value):
    clean.setenv(env, value)
    with pytest.raises(Effv2nbError, match=env):
        {k.TABLE_MODES_ENV: k.table_modes, k.LEVERS_ENV: k.levers, k.SEARCH_GROUPS_ENV: k.search_groups,
         k.SEARCH_STEPS_ENV: k.search_steps, k.EMULATED_IMAGES_ENV: lambda: k.emulated_images("tiny")}[env]()


def test_knob_lines_name_each_step_s_variable_and_its_value(clean):
    clean.delenv("EFFV2NB_QUICK", raising=False)
    table = k.knobs("table", 400, 288)
    assert table[:2] == ["EFFV2NB_EVAL_LIMIT=N (now 400 images)", "EFFV2NB_SIZE=px (now 288)"]
    assert table[2] == f"{k.TABLE_MODES_ENV}=max (now max,percentile,kl_divergence)"
    assert k.knobs("levers", 1, 1)[-1] == f"{k.LEVERS_ENV}=N (now all)"
    assert k.knobs("sensitivity", 1, 1)[-1] == f"{k.SEARCH_GROUPS_ENV}=stages (now blocks)"
    assert k.knobs("greedy", 1, 1)[-1] == f"{k.SEARCH_STEPS_ENV}=N (now 6)"
    assert k.knobs("emulated", 1, 1, "tiny") == [f"{k.EMULATED_IMAGES_ENV}=N (now 16)"]
    assert "calibration images" in k.knobs("peers", 50, 288)[-1]
