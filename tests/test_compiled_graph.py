"""int8 settings are applied, not just recorded: the compiled graph itself is checked.

- ``quantize_per_channel: true``: every Conv weight is dequantized with one scale per output channel
  (a scale vector along axis 0); ``false``: one scale per tensor.
- ``reduce_range: true``: every int8 weight lies in [-64, 64]: ONNX Runtime's reduced range for symmetric
  int8 weights (7-bit magnitudes, so u8 x s8 pair sums cannot saturate int16); without it weights use
  the full [-127, 127].
- ``nodes_to_exclude``: no input of an excluded node comes out of a DequantizeLinear (it runs in float).
"""
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from helpers import shipped_config

from effv2nb.compile.build import compile_config

FIRST_CONV = "/conv_stem/Conv"


def _compile(tmp_path, **quantize):
    changes = {"workspace.path": str(tmp_path / "ws"), "dataset.sampler.get_data_num": 8,
               "backend.quantize.calibrate_mode": "max"}
    changes.update({f"backend.quantize.{k}": v for k, v in quantize.items()})
    mod = compile_config(shipped_config(tmp_path, "tiny_int8.yaml", **changes), log=lambda *_: None, progress=False)
    return onnx.load(str(mod))


def _weights(model):
    """Conv weights as the graph dequantizes them: (conv name, int weight array, scale array, axis)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    dq = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    out = []
    for n in model.graph.node:
        if n.op_type == "Conv" and n.input[1] in dq:
            d = dq[n.input[1]]
            axis = next((a.i for a in d.attribute if a.name == "axis"), 1)
            out.append((n.name, inits[d.input[0]], inits[d.input[1]], axis))
    return out


def _dequantized_inputs(model, name):
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    node = next(n for n in model.graph.node if n.name == name)
    return [i for i in node.input if producers.get(i) == "DequantizeLinear"]


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("applied"), quantize_per_channel=True, reduce_range=True,
                    nodes_to_exclude=[FIRST_CONV])


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("plain"), quantize_per_channel=False, reduce_range=False)


def test_per_channel_gives_one_scale_per_output_channel(applied, plain):
    w = _weights(applied)
    assert len(w) > 20
    for name, q, scale, axis in w:
        assert scale.ndim == 1 and scale.shape[0] == q.shape[0] > 1 and axis == 0, (name, scale.shape, axis)
    for name, q, scale, axis in _weights(plain):
        assert scale.size == 1, (name, scale.shape)


def test_reduce_range_keeps_weights_in_7_bits(applied, plain):
    for name, q, scale, axis in _weights(applied):
        assert q.dtype == np.int8 and q.min() >= -64 and q.max() <= 64, (name, q.min(), q.max())
    reach = max(int(np.abs(q.astype(np.int16)).max()) for _, q, _, _ in _weights(plain))
    assert reach == 127, f"without reduce_range the weights use the full range (largest magnitude {reach})"


def test_excluded_node_runs_in_float(applied, plain):
    assert _dequantized_inputs(applied, FIRST_CONV) == []
    assert _dequantized_inputs(plain, FIRST_CONV), "the same node is quantized when not excluded"
    assert FIRST_CONV not in {n for n, *_ in _weights(applied)}


def test_compiled_int8_runs_on_integer_kernels(applied, plain, tmp_path):
    """What ``compile`` builds fuses on ONNX Runtime's host path: every convolution on an integer kernel, the SE
    squeezes too (``graph_edit.means_as_pooling``); only the excluded node and the appended softmax are float."""
    from effv2nb.quant import int8_kernels

    tables = {}
    for name, model, kept in (("plain", plain, []), ("applied", applied, [FIRST_CONV])):
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
        t = tables[name] = int8_kernels.count_kernels(tmp_path / f"{name}.onnx")
        assert t["convs"]["float"] == kept and t["convs"]["integer"] == t["convs"]["total"] - len(kept) > 30, name
        assert int8_kernels.unfused_convs(t, kept) == []
        assert "ReduceMean" not in t["float"] and t["integer"]["QLinearGlobalAveragePool"] == 6
    # graph.extra_ops: softmax, after the output's DequantizeLinear
    assert tables["plain"]["float"] == {"Softmax": 1}
    assert tables["applied"]["float"].get("Conv", 0) + tables["applied"]["float"].get("FusedConv", 0) == 1
