"""int8_kernels: what ONNX Runtime's optimized graph runs on integer kernels, on the tiny model.

The recipe ``bench --compare`` calls fast leaves nothing in float; a convolution kept in float on purpose,
and convolutions ORT cannot fuse (signed int8 activations on x86), show as float.
"""
import platform

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from helpers import tiny_int8_env

from effv2nb.compile.graph_edit import means_as_pooling
from effv2nb.compile.ort_quantize import quantize_int8
from effv2nb.quant import int8_kernels as k
from effv2nb.quant.int8_recipes import fast_recipe

BLOCK = "blocks.3.0"
X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work, fp32, _ev, calib, _ref = tiny_int8_env(tmp_path_factory.mktemp("kernels"), val_limit=10, n_calib=16)
    ops = [n.op_type for n in onnx.load(str(fp32)).graph.node]
    return work, fp32, calib, ops


@pytest.fixture(scope="module")
def fast(env):
    work, fp32, calib, _ = env
    return k.count_kernels(fast_recipe(num_calib=len(calib)).quantize(fp32, work / "fast.onnx", calib))


def test_fast_recipe_runs_every_op_on_integer_kernels(env, fast):
    ops = env[3]
    convs = ops.count("Conv")
    assert convs == 36 and fast["convs"] == {"total": convs, "integer": convs, "float": []}
    assert fast["integer"]["QLinearConv"] == convs
    assert fast["integer"]["QLinearSigmoid"] == ops.count("Sigmoid")
    assert fast["integer"]["QLinearMul"] == ops.count("Mul")
    assert fast["integer"]["QLinearAdd"] == ops.count("Add")
    # the SE squeezes (ReduceMean in the export) and the head's pooling
    assert fast["integer"]["QLinearGlobalAveragePool"] == ops.count("ReduceMean") + ops.count("GlobalAveragePool") == 6
    assert fast["integer"]["QGemm"] == 1
    assert fast["float"] == {}, fast["float"]
    assert fast["quantize"] == {"DequantizeLinear": 1, "QuantizeLinear": 1}     # the model's input and output
    assert set(fast["move"]) <= {"Transpose", "Flatten", "Reshape"}
    text = k.format_kernels(fast)
    assert "convolutions: 36 of 36 on integer kernels" in text and "float (between DQ and Q)      0: none" in text


def test_a_block_kept_in_float_shows_its_convs_as_float(env):
    """A whole block in float (what ``speed_aware_search`` keeps): its convolutions run in float on purpose."""
    from effv2nb.quant.int8_search import block_groups

    work, fp32, calib, _ = env
    block = block_groups(fp32)[BLOCK]
    convs = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv" and n.name in block]
    q = fast_recipe(num_calib=len(calib), nodes_to_exclude=block).quantize(fp32, work / "kept.onnx", calib)
    t = k.count_kernels(q, keep=work / "kept_optimized.onnx")
    assert (work / "kept_optimized.onnx").is_file()
    assert len(convs) == 5 and t["convs"]["float"] == convs
    assert t["convs"]["integer"] == t["convs"]["total"] - len(convs)
    assert sum(n for op, n in t["float"].items() if "Conv" in op) == len(convs)
    assert t["quantize"]["DequantizeLinear"] > 1 and t["quantize"]["QuantizeLinear"] > 1   # at the block's ends
    assert k.unfused_convs(t) == convs and k.unfused_convs(t, block) == []
    assert "5 kept in float on purpose; not fused: none" in k.format_kernels(t, block)
    assert f"in float: {convs[0]}" in k.format_kernels(t)


@pytest.mark.skipif(not X86, reason="ONNX Runtime fuses signed int8 activations on ARM")
def test_signed_activations_leave_convs_unfused(env):
    """On x86 ORT turns s8 activations into u8 only where a QuantizeLinear has one consumer: convolutions
    fed by a tensor that fans out (a SiLU's input, a residual) stay in float between DQ and Q."""
    work, fp32, calib, _ = env
    t = k.count_kernels(quantize_int8(fp32, work / "s8.onnx", calib, activation_type="int8"))
    unfused = k.unfused_convs(t)
    assert len(unfused) >= 10 and t["float"].get("Conv", 0) + t["float"].get("FusedConv", 0) == len(unfused)
    assert "not fused: " in k.format_kernels(t, []) and "more)" in k.format_kernels(t, [])


def test_float_tensors_follow_quantize_and_dequantize():
    g = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
         helper.make_node("Transpose", ["xq"], ["xt"], perm=[0, 1]),
         helper.make_node("DequantizeLinear", ["xt", "s", "z"], ["xf"]),
         helper.make_node("Sigmoid", ["xf"], ["y"]),
         helper.make_node("Cast", ["xt"], ["xc"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["xc", "y"], ["out"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]), helper.make_tensor("z", TensorProto.UINT8, [], [0])])
    assert k.float_tensors(g) == {"x", "s", "xf", "y", "xc", "out"}
    t = k.classify(g)
    assert t["float"] == {"Add": 1, "Sigmoid": 1} and t["move"] == {"Cast": 1, "Transpose": 1}
    assert t["quantize"] == {"DequantizeLinear": 1, "QuantizeLinear": 1} and t["integer"] == {}
    assert k.source_name("/a/Conv_token_12_token_3") == "/a/Conv" and k.source_name("/a/Conv_nchwc") == "/a/Conv"


def _means_model(opset):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 4])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("hw", "neg", "c", "flat")]
    if opset >= 18:
        means = [helper.make_node("ReduceMean", ["x", "a23"], ["hw"], name="hw"),
                 helper.make_node("ReduceMean", ["x", "an"], ["neg"], name="neg"),
                 helper.make_node("ReduceMean", ["x", "a1"], ["c"], name="c"),
                 helper.make_node("ReduceMean", ["x", "a23"], ["flat"], name="flat", keepdims=0)]
        inits = [helper.make_tensor(n, TensorProto.INT64, [len(v)], v)
                 for n, v in (("a23", [2, 3]), ("an", [-1, -2]), ("a1", [1]))]
    else:
        means = [helper.make_node("ReduceMean", ["x"], ["hw"], name="hw", axes=[2, 3]),
                 helper.make_node("ReduceMean", ["x"], ["neg"], name="neg", axes=[-1, -2]),
                 helper.make_node("ReduceMean", ["x"], ["c"], name="c", axes=[1]),
                 helper.make_node("ReduceMean", ["x"], ["flat"], name="flat", axes=[2, 3], keepdims=0)]
        inits = []
    g = helper.make_graph(means, "means", [x], outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("opset", [17, 18])
def test_means_over_h_and_w_become_pooling_with_the_same_result(opset):
    from effv2nb.core.ort_session import ort_session

    m = _means_model(opset)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)
    before = ort_session(m, optimize=False).run(None, {"x": x})
    assert means_as_pooling(m) == 2
    assert [(n.name, n.op_type) for n in m.graph.node] == [
        ("hw", "GlobalAveragePool"), ("neg", "GlobalAveragePool"), ("c", "ReduceMean"), ("flat", "ReduceMean")]
    after = ort_session(m, optimize=False).run(None, {"x": x})
    for b, a in zip(before, after):
        assert b.shape == a.shape and np.allclose(b, a, atol=1e-6)
    assert means_as_pooling(m) == 0
