"""effv2nb.quant.clip_ranges: the max and percentile ranges of one tensor, as ONNX Runtime's
calibrators compute them, and what each costs that tensor in int8."""
import numpy as np
import pytest

from helpers import tiny_int8_env

from effv2nb.quant import clip_ranges, onnx_eval


def test_fake_quant_is_exact_on_the_grid_and_clips_outside():
    lo, hi = -1.0, 3.0
    scale = (hi - lo) / 255
    zp = round(-lo / scale)
    grid = (np.arange(256) - zp) * scale
    np.testing.assert_allclose(clip_ranges.fake_quant(grid, lo, hi), grid, atol=1e-6)
    assert clip_ranges.fake_quant(np.array([10.0]), lo, hi)[0] == pytest.approx((255 - zp) * scale, abs=1e-6)
    # a range that does not hold 0 is widened to hold it (u8 with a zero point on the grid)
    assert clip_ranges.fake_quant(np.array([0.0]), 2.0, 3.0)[0] == 0.0


def test_ranges_are_computed_as_ort_calibrators_do():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 200_000), [60.0, -55.0]]).astype(np.float32)   # two outliers
    cuts = {c["name"]: c for c in clip_ranges.cutoffs(x, (90.0, 99.99))}
    assert cuts["max"]["lo"] == pytest.approx(-55.0) and cuts["max"]["hi"] == pytest.approx(60.0)
    assert cuts["max"]["clipped"] == 0.0 and cuts["max"]["step"] == pytest.approx(115.0 / 255)
    t = np.percentile(np.abs(x), 99.99)
    assert cuts["percentile 99.99"]["hi"] == pytest.approx(t) and cuts["percentile 99.99"]["lo"] == pytest.approx(-t)
    assert cuts["percentile 99.99"]["step"] < cuts["max"]["step"] / 5
    assert cuts["percentile 90"]["clipped"] == pytest.approx(10.0, abs=0.1)


def test_on_a_heavy_tail_a_high_percentile_beats_max_and_a_low_one_loses():
    x = np.random.default_rng(0).standard_t(3, 200_000).astype(np.float32)
    cuts = {c["name"]: c for c in clip_ranges.cutoffs(x, (99.9, 99.999))}
    assert cuts["percentile 99.999"]["sqnr_db"] > cuts["max"]["sqnr_db"] + 1       # finer steps, few clipped
    assert cuts["percentile 99.9"]["sqnr_db"] < cuts["max"]["sqnr_db"] - 3         # clipped tails cost more
    assert cuts["percentile 99.9"]["clipped"] == pytest.approx(0.1, abs=0.02)


def test_percentile_range_stays_inside_min_max():
    x = np.linspace(0.0, 4.0, 10_001).astype(np.float32)      # after a ReLU: nothing below 0
    c = clip_ranges.cutoffs(x, (99.0,))[1]
    assert c["lo"] == 0.0 and c["hi"] == pytest.approx(np.percentile(x, 99.0))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return tiny_int8_env(tmp_path_factory.mktemp("clip"), val_limit=10, n_calib=4)


def test_tensor_values_are_the_graph_s_own(env):
    work, fp32, ev, calib, ref = env
    logits = clip_ranges.tensor_values(fp32, _output_name(fp32), calib)
    np.testing.assert_allclose(logits, onnx_eval.ort_run(fp32, np.concatenate(calib)).ravel(), rtol=1e-4, atol=1e-5)
    inner = clip_ranges.tensor_values(fp32, "/conv_stem/Conv_output_0", calib)
    assert inner.size == 4 * np.prod(_shape(fp32, "/conv_stem/Conv_output_0", calib[0]))
    few = clip_ranges.tensor_values(fp32, "/conv_stem/Conv_output_0", calib, max_values=1000)
    assert 500 <= few.size <= 1000 and few[0] == inner[0]


def test_worst_node_skips_float_and_infinite_rows():
    rows = [{"node": "a", "sqnr_db": 5.0, "quantized": False}, {"node": "b", "sqnr_db": float("inf")},
            {"node": "c", "sqnr_db": 20.0}, {"node": "d", "sqnr_db": 12.0, "quantized": True}]
    assert clip_ranges.worst_node(rows)["node"] == "d"


def _output_name(fp32):
    import onnx

    return onnx.load(str(fp32)).graph.output[0].name


def _shape(fp32, tensor, x):
    import onnx

    from effv2nb.core.ort_session import ort_session

    m = onnx.load(str(fp32))
    m.graph.output.append(onnx.ValueInfoProto(name=tensor))
    s = ort_session(m, optimize=False)
    return s.run([tensor], {s.get_inputs()[0].name: x})[0].shape
