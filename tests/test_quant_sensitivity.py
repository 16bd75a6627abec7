"""``sensitivity()`` ranks node groups by what quantizing them costs; the ranking must predict the effect
of the fallback it drives: keeping the most sensitive group in float raises the logit SQNR more than
keeping the least sensitive one."""
import pytest

from helpers import tiny_int8_env

from effv2nb.quant import graph_kinds, int8_recipes, int8_search, onnx_eval
from effv2nb.core import metrics


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return tiny_int8_env(tmp_path_factory.mktemp("sens"))


def test_keeping_the_most_sensitive_group_in_float_helps_most(env):
    work, fp32, ev, calib, ref = env
    base = int8_recipes.Recipe("b", "max", per_channel=True, num_calib=20)
    gm = {k: v for k, v in graph_kinds.groups(graph_kinds.node_table(fp32)).items() if k in ("head", "stem", "all SE")}
    sens = int8_search.sensitivity(fp32, base, calib, ev.x, ref, work / "s", progress=False, group_map=gm)
    assert sorted(s["group"] for s in sens) == sorted(gm)
    most, least = sens[0]["group"], sens[-1]["group"]

    def sqnr_keeping(group):
        recipe = base.replace(nodes_to_exclude=tuple(gm[group]))
        path = recipe.quantize(fp32, work / f"keep_{group.replace(' ', '_')}.onnx", calib)
        return metrics.sqnr_db(ref, onnx_eval.ort_run(path, ev.x))

    assert sqnr_keeping(most) > sqnr_keeping(least), (most, least, sens)
