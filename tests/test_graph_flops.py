"""graph_flops: FLOPs per op type from an ONNX graph's shapes, checked by hand on a small graph and
against PyTorch's flop counter on the tiny model; the profiler's fused kernels map onto the same names."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from effv2nb.bench import graph_flops as gf


def _graph(tmp_path):
    """x(?,4,8,8) -> Conv 3x3 to 6 ch -> SiLU -> depthwise Conv 3x3 (group 6) -> SE-ish Mul by a Sigmoid gate
    of ReduceMean -> Add -> GlobalAveragePool -> Flatten -> Gemm to 5."""
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n) for n, s in
            (("w1", (6, 4, 3, 3)), ("w2", (6, 1, 3, 3)), ("wg", (5, 6)), ("bg", (5,)))]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c1"], ["s1"], name="sig1"),
        helper.make_node("Mul", ["c1", "s1"], ["a1"], name="mul1"),
        helper.make_node("Conv", ["a1", "w2"], ["c2"], name="dw", group=6, pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["c2"], ["m"], name="mean", axes=[2, 3], keepdims=1),
        helper.make_node("Sigmoid", ["m"], ["g"], name="gate"),
        helper.make_node("Mul", ["c2", "g"], ["se"], name="scale"),
        helper.make_node("Add", ["se", "a1"], ["r"], name="add"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["y"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])], init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    p = tmp_path / "g.onnx"
    onnx.save(m, p)
    return p


def test_counts_by_hand(tmp_path):
    f = gf.flops_by_op_type(_graph(tmp_path))
    e = 6 * 8 * 8                                    # elements of every (1, 6, 8, 8) activation
    assert f["Conv"] == 2 * e * 4 * 3 * 3            # 2 x outputs x (Cin/group) x kH x kW
    assert f[gf.DEPTHWISE] == 2 * e * 1 * 3 * 3
    assert f[gf.SILU] == 2 * e                        # the Sigmoid and the Mul of x * sigmoid(x)
    assert f["Sigmoid"] == 6 and f["Mul"] == e       # the SE gate is not a SiLU
    assert f["ReduceMean"] == e and f["GlobalAveragePool"] == e and f["Add"] == e
    assert f["Gemm"] == 2 * 5 * 6 and f["Flatten"] == 0
    assert list(f)[0] == "Conv"                       # most first
    assert gf.node_counts(tmp_path / "g.onnx") == {"Conv": 1, gf.SILU: 2, gf.DEPTHWISE: 1, "ReduceMean": 1,
                                                    "Sigmoid": 1, "Mul": 1, "Add": 1, "GlobalAveragePool": 1,
                                                    "Flatten": 1, "Gemm": 1}
    # per image: a batch of 3 gives the same figures
    assert gf.flops_by_op_type(tmp_path / "g.onnx", batch=3) == f


def test_tiny_matches_torch_counter(tmp_path):
    from effv2nb.export.onnx_export import export_onnx
    from effv2nb.model import complexity, models

    model = models.load("tiny")
    p = export_onnx(model, tmp_path / "tiny.onnx", size=64)
    f = gf.flops_by_op_type(p)
    assert round(f["Conv"] + f[gf.DEPTHWISE] + f["Gemm"]) == round(complexity.count(model, 64)["flops"])
    assert f[gf.DEPTHWISE] > 0 and f[gf.SILU] > 0
    table = gf.format_table(f, gf.node_counts(p))
    assert table.splitlines()[-1].startswith("total") and "100.00%" in table.splitlines()[-1]


def test_profile_names_map_onto_graph_categories():
    prof = {"FusedConv": 1.0, "Conv": 2.0, "Conv (depthwise)": 0.5, "FusedConv (depthwise)": 0.25,
            "QuickGelu": 3.0, "ReorderInput": 0.1, "ReorderOutput": 0.2, "Mul": 0.4}
    c = gf.profile_categories(prof)
    assert c == pytest.approx({"Conv": 3.0, gf.DEPTHWISE: 0.75, gf.SILU: 3.0, gf.REORDER: 0.3, "Mul": 0.4})


def test_shares_sum_to_100_and_sort_by_time():
    rows = gf.shares({"Conv": 90.0, gf.SILU: 10.0, "Flatten": 0.0}, {"Conv": 1.0, "QuickGelu": 3.0, "ReorderInput": 1.0})
    assert [r[0] for r in rows] == [gf.SILU, "Conv", gf.REORDER, "Flatten"]
    assert sum(r[1] for r in rows) == pytest.approx(100) and sum(r[2] for r in rows) == pytest.approx(100)
    assert dict((r[0], r[2]) for r in rows)[gf.SILU] == pytest.approx(60)
