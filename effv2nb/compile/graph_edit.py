"""Graph surgery on a compiled model: notebooks 03 and 05, ``python -m effv2nb compile`` (``graph.extra_ops``).

Reference: ``docs/vendor-files.md``, section "Build YAML" (``graph.extra_ops.type: softmax``).
"""
from __future__ import annotations

from pathlib import Path

from effv2nb.core.atomic import atomic_path


def add_softmax(onnx_path) -> None:
    """``graph.extra_ops: softmax``: append Softmax(axis=-1) to the (first) output, same output name."""
    import onnx
    from onnx import helper

    m = onnx.load(str(onnx_path))
    out = m.graph.output[0]
    logits = out.name + "_logits"
    for node in m.graph.node:
        for i, name in enumerate(node.output):
            if name == out.name:
                node.output[i] = logits
    for node in m.graph.node:
        for i, name in enumerate(node.input):
            if name == out.name:
                node.input[i] = logits
    m.graph.node.append(helper.make_node("Softmax", [logits], [out.name], axis=-1, name="extra_ops_softmax"))
    with atomic_path(onnx_path) as tmp:
        onnx.save(m, str(tmp))


def without_extra_softmax(onnx_path, dst) -> Path:
    """The compiled model ``onnx_path`` with the Softmax that ``add_softmax`` appended taken off again,
    written to ``dst``: its logits, to score against fp32's (notebook 05). A model without that Softmax
    is returned as it is (``onnx_path``)."""
    import onnx

    m = onnx.load(str(onnx_path))
    last = [n for n in m.graph.node if n.name == "extra_ops_softmax"]
    if not last:
        return Path(onnx_path)
    out_name, logits = last[0].output[0], last[0].input[0]
    m.graph.node.remove(last[0])
    for node in m.graph.node:
        for names in (node.output, node.input):
            for i, name in enumerate(names):
                if name == logits:
                    names[i] = out_name
    with atomic_path(dst) as tmp:
        onnx.save(m, str(tmp))
    return Path(dst)


def at_input_size(onnx_path, input_name: str, height: int, width: int, dst) -> None:
    """The export ``onnx_path`` with its input's fixed H x W set to ``height`` x ``width``, written to ``dst``.

    The vendor's model page exports at 224 and compiles a build YAML whose ``frontend.shape`` is 288: the
    compiler builds the model at the YAML's shape. EfficientNetV2 is fully convolutional up to a global
    pooling, so the same graph runs at any size; the intermediate shapes recorded at export are dropped
    and inferred again, and ONNX Runtime must run the result, else an ``Effv2nbError`` says to export
    at that size.
    """
    import numpy as np
    import onnx

    from effv2nb.core.errors import Effv2nbError
    from effv2nb.core.ort_session import ort_session

    m = onnx.load(str(onnx_path))
    for inp in m.graph.input:
        if inp.name == input_name:
            dims = inp.type.tensor_type.shape.dim
            dims[2].ClearField("dim_param")
            dims[2].dim_value = int(height)
            dims[3].ClearField("dim_param")
            dims[3].dim_value = int(width)
    del m.graph.value_info[:]
    try:
        m = onnx.shape_inference.infer_shapes(m)
        sess = ort_session(m)
        sess.run(None, {input_name: np.zeros((1, 3, int(height), int(width)), np.float32)})
    except Exception as exc:  # noqa: BLE001 - whatever stops the graph at that size, one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise Effv2nbError(f"the model does not run at {height}x{width} ({first}); export it at that size: "
                           f"python -m effv2nb export --size {height}", onnx_path) from None
    with atomic_path(dst) as tmp:
        onnx.save(m, str(tmp))
