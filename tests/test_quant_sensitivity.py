"""``sensitivity()`` ranks node groups by what quantizing them costs; the ranking must predict the effect
of the fallback it drives: keeping the most sensitive group in float raises the logit SQNR more than
keeping the least sensitive one."""
import pytest

from effv2nb.model import models
from effv2nb.device import preprocess
from effv2nb.quant import quant_analysis as qa
from effv2nb.core.settings import DIGITS_DIR


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from effv2nb.export.onnx_export import export_onnx
    work = tmp_path_factory.mktemp("sens")
    model = models.load("tiny")
    fp32 = export_onnx(model, work / "fp32.onnx")
    vdsp = preprocess.vdsp_for_model(model)
    ev = qa.load_eval_set(DIGITS_DIR / "val", vdsp, models.info(model).labels(), 64, limit=40)
    calib = qa.calibration_arrays(DIGITS_DIR / "calib", vdsp, 64, n=20)
    return work, fp32, ev, calib, qa.ort_run(fp32, ev.x)


def test_keeping_the_most_sensitive_group_in_float_helps_most(env):
    work, fp32, ev, calib, ref = env
    base = qa.Recipe("b", "max", per_channel=True, num_calib=20)
    gm = {k: v for k, v in qa.groups(qa.node_table(fp32)).items() if k in ("head", "stem", "all SE")}
    sens = qa.sensitivity(fp32, base, calib, ev.x, ref, work / "s", progress=False, group_map=gm)
    assert sorted(s["group"] for s in sens) == sorted(gm)
    most, least = sens[0]["group"], sens[-1]["group"]

    def sqnr_keeping(group):
        recipe = base.replace(nodes_to_exclude=tuple(gm[group]))
        path = recipe.quantize(fp32, work / f"keep_{group.replace(' ', '_')}.onnx", calib)
        return qa.sqnr_db(ref, qa.ort_run(path, ev.x))

    assert sqnr_keeping(most) > sqnr_keeping(least), (most, least, sens)
