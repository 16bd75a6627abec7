"""effv2nb.quant.layer_error: per-layer SQNR batch by batch equals the whole set at once."""
import numpy as np
import pytest

from helpers import tiny_int8_env

from effv2nb.core.metrics import sqnr_db
from effv2nb.quant import int8_recipes, layer_error, onnx_eval


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work, fp32, ev, calib, ref = tiny_int8_env(tmp_path_factory.mktemp("layers"), val_limit=12, n_calib=8)
    q = int8_recipes.stock_recipe(8).quantize(fp32, work / "stock.onnx", calib)
    return fp32, q, ev.x


def test_batches_add_up_to_the_whole(env):
    fp32, q, x = env
    one = layer_error.layer_sqnr(fp32, q, x, batch=len(x))
    many = layer_error.layer_sqnr(fp32, q, x, batch=5)          # 5 + 5 + 2 images
    assert [r["node"] for r in one] == [r["node"] for r in many]
    a, b = np.array([r["sqnr_db"] for r in one]), np.array([r["sqnr_db"] for r in many])
    assert np.all(np.isfinite(a) == np.isfinite(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-6, atol=1e-6)


def test_the_last_node_is_the_logits_sqnr(env):
    fp32, q, x = env
    rows = layer_error.layer_sqnr(fp32, q, x, batch=3)
    exact = sqnr_db(onnx_eval.ort_run(fp32, x), layer_error_run(q, x))
    assert rows[-1]["kind"] == "head" and rows[-1]["sqnr_db"] == pytest.approx(exact, abs=1e-3)


def layer_error_run(q, x):
    from effv2nb.quant import int8_paths

    return int8_paths.run(q, x, int8_paths.EXACT)
