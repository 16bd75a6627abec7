"""timing.profile_by_op: ORT profiler events summed by op type, warm-up dropped, median per node, depthwise
convolutions apart (by graph name through ORT's renamings, or by weight shape). Synthetic events: no clock."""
import pytest

from effv2nb.bench import timing


def ev(name, op, dur, ts, shapes=None):
    args = {"op_name": op}
    if shapes:
        args["input_type_shape"] = [{"float": s} for s in shapes]
    return {"cat": "Node", "name": f"{name}_kernel_time", "dur": dur, "ts": ts, "args": args}


def test_warmup_dropped_and_median_per_node():
    events = [ev("a", "Conv", 9000, 0), ev("a", "Conv", 100, 10), ev("a", "Conv", 5000, 20), ev("a", "Conv", 110, 30),
              ev("b", "Add", 50, 1), ev("b", "Add", 20, 11), ev("b", "Add", 20, 21), ev("b", "Add", 20, 31),
              {"cat": "Session", "name": "model_run", "dur": 1, "ts": 0}]
    out = timing.profile_by_op(events)
    assert out == pytest.approx({"Conv": 0.110, "Add": 0.020})     # ms: median of 100, 5000, 110
    assert list(out) == ["Conv", "Add"]


def test_depthwise_by_name_through_ort_renamings_and_by_shape():
    events = []
    for ts in (0, 10):
        events += [ev("/b/conv_dw/Conv_output_0_nchwc", "Conv", 100, ts),       # NCHWc: named by its output
                   ev("/b/conv_dw2/Conv_token_83", "QLinearConv", 200, ts + 1),  # QDQ fusion: node name + token
                   ev("fused_x", "FusedConv", 300, ts + 2, [[1, 8, 4, 4], [8, 1, 3, 3], [8]]),   # by weight shape
                   ev("/b/conv_pw/Conv_output_0_nchwc", "Conv", 400, ts + 3, [[1, 8, 4, 4], [16, 8, 1, 1]])]
    dw = {"/b/conv_dw/Conv", "/b/conv_dw/Conv_output_0", "/b/conv_dw2/Conv"}
    out = timing.profile_by_op(events, dw)
    assert out == pytest.approx({"Conv (depthwise)": 0.1, "QLinearConv (depthwise)": 0.2,
                                 "FusedConv (depthwise)": 0.3, "Conv": 0.4})


def test_op_time_profile_on_tiny(tmp_path):
    import numpy as np

    from effv2nb.export.onnx_export import export_onnx
    from effv2nb.model import models

    p = export_onnx(models.load("tiny"), tmp_path / "t.onnx")
    out = timing.op_time_profile(p, np.zeros((1, 3, 64, 64), np.float32), runs=2, threads=1)
    assert any(k.endswith("(depthwise)") for k in out), out        # tiny has 5 depthwise convolutions
    assert all(v >= 0 for v in out.values())
