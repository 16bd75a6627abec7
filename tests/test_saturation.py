"""effv2nb.quant.saturation: AVX2's saturating u8 x s8 pair sums, on hand-made matrices and on tiny's int8 convs.

All but the last test check the numpy model and the exact QDQ arithmetic, so they hold on any CPU. The
last one runs ONNX Runtime's fused kernels on an emulated Haswell (tests/no_vnni.py) and checks that
they compute what the model says, conv by conv.
"""
import sys

import numpy as np
import onnx
import pytest

from effv2nb.data import labels
from effv2nb.formats.vdsp import load_vdsp
from effv2nb.quant import eval_sets, int8_recipes, saturation as sat
from effv2nb.core.metrics import sqnr_db
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR
from no_vnni import run_python

FP32 = DATA_DIR / "tiny_64.onnx"


def brute_force(a, w):
    """Saturated dot products the slow way: each pair of adjacent K terms clipped to int16."""
    out = np.zeros((a.shape[0], w.shape[1]), np.int64)
    for i in range(a.shape[0]):
        for j in range(w.shape[1]):
            terms = [int(a[i, k]) * int(w[k, j]) for k in range(a.shape[1])] + [0]
            out[i, j] = sum(min(32767, max(-32768, terms[k] + terms[k + 1])) for k in range(0, a.shape[1], 2))
    return out


def test_pair_sums_saturate_exactly_where_int16_overflows():
    # K = 5 (odd: a zero pads the last pair). Pairs: 255*127*2 = 64770 -> 32767, 1*3 + 2*4 = 11, 255*127 = 32385
    a = np.array([[255, 255, 1, 2, 255], [255, 255, 0, 0, 0]], np.uint8)
    w = np.array([[127, -128], [127, -128], [3, 0], [4, 0], [127, 0]], np.int8)
    r = sat.pair_sums(a, w)
    assert r.exact.tolist() == [[64770 + 11 + 32385, -65280], [64770, -65280]]
    assert r.saturated.tolist() == [[32767 + 11 + 32385, -32768], [32767, -32768]]
    assert (r.n_saturated, r.n_pairs, r.max_abs) == (4, 12, 65280)
    assert r.fraction == pytest.approx(4 / 12)
    assert r.hist.sum() == r.n_pairs
    # the same products, each paired with a zero, stay below the limit: the pairing decides
    r = sat.pair_sums(np.array([[255, 0, 255, 0]], np.uint8), np.full((4, 1), 127, np.int8))
    assert r.n_saturated == 0 and r.saturated[0, 0] == r.exact[0, 0] == 2 * 32385


def test_pair_sums_match_brute_force_and_7bit_weights_never_saturate():
    rng = np.random.default_rng(0)
    a = rng.integers(150, 256, size=(37, 9), dtype=np.uint8)
    w = rng.integers(-128, 128, size=(9, 5), dtype=np.int8)
    r = sat.pair_sums(a, w, chunk_elements=7)          # several chunks over M
    assert r.n_saturated > 0
    assert np.array_equal(r.saturated, brute_force(a, w))
    assert np.array_equal(r.exact, a.astype(np.int64) @ w.astype(np.int64))
    assert np.array_equal(sat.pair_sums(a, w).saturated, r.saturated)
    w7 = rng.integers(-64, 65, size=(9, 5), dtype=np.int8)          # reduce_range: |w| <= 64
    r7 = sat.pair_sums(np.full((4, 9), 255, np.uint8), w7)
    assert r7.n_saturated == 0 and np.array_equal(r7.saturated, r7.exact)
    with pytest.raises(ValueError):
        sat.pair_sums(a.astype(np.int8), w)


def ort_unoptimized(model, x, names):
    """Tensors ``names`` of a model as ONNX Runtime computes them with no graph optimization."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in dict.fromkeys(names))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = sess.run(list(dict.fromkeys(names)), {sess.get_inputs()[0].name: x})
    return dict(zip(dict.fromkeys(names), outs))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """tiny quantized per-channel max with 8-bit and with 7-bit (reduce_range) weights, 16 val images."""
    work = tmp_path_factory.mktemp("saturation")
    vdsp = load_vdsp(DATA_DIR / "configs" / "tiny-vdsp_params.json")
    calib = eval_sets.calibration_arrays(DIGITS_DIR / "calib", vdsp, 64, n=300)
    ev = eval_sets.load_eval_set(DIGITS_DIR / "val", vdsp, labels.from_txt(DIGITS_DIR / "labels.txt"), 64, limit=16)
    recipe = int8_recipes.Recipe("pc max", "max", per_channel=True, reduce_range=False, num_calib=300)
    q8 = recipe.quantize(FP32, work / "pc_max.onnx", calib)
    q7 = recipe.replace(reduce_range=True).quantize(FP32, work / "pc_max_rr.onnx", calib)
    return {"work": work, "x": ev.x, "q8": onnx.load(str(q8)), "q7": onnx.load(str(q7)),
            "rank8": sat.rank_convs(q8, ev.x), "rank7": sat.rank_convs(q7, ev.x)}


def test_exact_output_is_what_ort_computes_without_optimization(tiny):
    m = tiny["q8"]
    convs = sat.eligible_convs(m)
    depthwise = [n.name for n in m.graph.node if n.op_type == "Conv" and n.name not in convs]
    assert len(convs) == 31 and len(depthwise) == 5 and all("conv_dw" in n for n in depthwise)
    with pytest.raises(ValueError, match="group"):
        sat.conv_spec(m, depthwise[0])
    nodes = {n.name: n for n in m.graph.node}
    specs = {c: sat.conv_spec(m, c) for c in convs}
    ort_out = ort_unoptimized(m, tiny["x"], [nodes[c].output[0] for c in convs] + [s.x_name for s in specs.values()])
    for c in convs:
        r = sat.conv_saturation(None, specs[c], x_u8=ort_out[specs[c].x_name])
        ref = ort_out[nodes[c].output[0]]
        assert r.exact.shape == ref.shape
        np.testing.assert_allclose(r.exact, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max(), err_msg=c)
        if r.n_saturated:           # and the check tells the two apart
            assert np.abs(r.saturated - ref).max() > 1e-3 * np.abs(ref).max()


def test_most_saturating_conv_saturates_with_8bit_weights_only(tiny):
    top = tiny["rank8"][0]
    assert top["n_saturated"] > 0 and top["max_abs_pair"] > 32767
    assert top["sqnr_db"] < 30
    assert all(r["n_saturated"] == 0 and r["max_abs_pair"] <= 2 * 255 * 64 for r in tiny["rank7"])
    r8 = sat.conv_saturation(tiny["q8"], top["node"], tiny["x"])
    r7 = sat.conv_saturation(tiny["q7"], top["node"], tiny["x"])
    assert r8.max_abs_weight == 127 and r7.max_abs_weight <= 64
    assert r8.saturated_fraction == pytest.approx(top["saturated_fraction"])
    assert r7.n_saturated == 0 and np.array_equal(r7.saturated, r7.exact)
    # against the fp32 model's conv output, the saturated int8 output is much worse than the exact one
    out = next(n.output[0] for n in tiny["q8"].graph.node if n.name == top["node"])
    ref = sat.run_tensors(onnx.load(str(FP32)), tiny["x"], [out])[out]
    assert sqnr_db(ref, r8.saturated) < sqnr_db(ref, r8.exact) - 6
    assert sqnr_db(ref, r7.exact) > 15


def test_plot_pair_sums(tiny):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = tiny["rank8"][0]["node"]
    r8 = sat.conv_saturation(tiny["q8"], top, tiny["x"][:4])
    r7 = sat.conv_saturation(tiny["q7"], top, tiny["x"][:4])
    ax = sat.plot_pair_sums(r8, r7)
    assert tuple(ax.figure.get_size_inches()) == (10, 3.5)
    assert len(ax.get_lines()) == 4            # two histograms, two limits
    assert {tuple(line.get_xdata()) for line in ax.get_lines()[2:]} == {(-32767, -32767), (32767, 32767)}
    assert "8-bit" in ax.get_legend().get_texts()[0].get_text()
    plt.close(ax.figure)


HOST_SCRIPT = """
import sys, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.log_severity_level = 3            # default optimizations: the fused kernels
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
names = [o.name for o in s.get_outputs()]
outs = s.run(names, {s.get_inputs()[0].name: np.load(sys.argv[2])})
np.savez(sys.argv[3], **{f"t{i}": o for i, o in enumerate(outs)})
"""


def test_emulated_haswell_host_computes_the_saturating_model(tiny):
    """ORT's fused host kernels on a CPU without VNNI: each conv's u8 output, from the host's own u8
    input, equals the numpy saturation model's, not the exact arithmetic's."""
    m, work, x = tiny["q8"], tiny["work"], tiny["x"][:8]
    specs = [sat.conv_spec(m, c) for c in sat.eligible_convs(m)]
    names = list(dict.fromkeys(n for s in specs for n in (s.x_name, s.y_name)))
    exposed = onnx.ModelProto()
    exposed.CopyFrom(m)
    exposed.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names)   # fusion is unchanged
    onnx.save(exposed, str(work / "exposed.onnx"))
    np.save(work / "x8.npy", x)
    proc = run_python(["-c", HOST_SCRIPT, str(work / "exposed.onnx"), str(work / "x8.npy"), str(work / "host.npz")],
                      timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    host = np.load(work / "host.npz")
    got = {n: host[f"t{i + 1}"] for i, n in enumerate(names)}     # t0: the logits
    rows = []
    for s in specs:
        r = sat.conv_saturation(None, s, x_u8=got[s.x_name])
        y, ym, ye = got[s.y_name], r.quantized("saturated"), r.quantized("exact")
        dq = lambda q: (q.astype(np.float64) - s.out_qparams[1]) * s.out_qparams[0]  # noqa: E731
        rows.append((s.node, r.saturated_fraction, float(np.mean(y == ym)), float(np.mean(y == ye)),
                     sqnr_db(dq(y), dq(ym)), sqnr_db(dq(y), dq(ye))))
    for row in rows:
        print("%-48s saturated %.5f  host==model %.4f  host==exact %.4f  SQNR vs model %.1f, vs exact %.1f dB"
              % row, file=sys.stderr)
    assert all(row[2] >= 0.999 for row in rows), "the host does not compute the saturating model"
    node, frac, eq_model, eq_exact, db_model, db_exact = max(rows, key=lambda row: row[1])
    assert node == tiny["rank8"][0]["node"] and frac > 0
    assert eq_exact < 0.9 and db_model > db_exact + 20
