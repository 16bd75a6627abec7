"""Graph surgery on a compiled model: notebook 03, ``python -m effv2nb compile`` (``graph.extra_ops``).

Reference: ``docs/vendor-files.md``, section "Build YAML" (``graph.extra_ops.type: softmax``).
"""
from __future__ import annotations

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
