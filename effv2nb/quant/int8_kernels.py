"""Notebooks 05 and 06, ``python -m effv2nb bench --compare``: which nodes of an int8 model ONNX Runtime runs on
integer kernels, and which it leaves in float.

An int8 model is a QDQ graph: float operators between DequantizeLinear and QuantizeLinear. When a session
optimizes the graph (the host path, the level every timing session uses: ``effv2nb.core.ort_session`` with
``optimize=True``), ONNX Runtime fuses each DQ -> op -> Q it can into one integer kernel (QLinearConv,
QLinearMul, QGemm ...). What it cannot fuse runs in float, with a DequantizeLinear before it and a
QuantizeLinear after it, and the int8 model may then be slower than the fp32 one.

``count_kernels`` saves ORT's optimized graph (``SessionOptions.optimized_model_filepath``) and counts its nodes
per op type, in four kinds:

- ``integer``: integer kernels (``QLinear*``, ``QGemm``, ``ConvInteger``, ``MatMulInteger`` ...);
- ``float``: compute nodes whose input is a float tensor (a Conv / FusedConv / Mul / Sigmoid / Add /
  ReduceMean left between DQ and Q, or after the model's last DequantizeLinear);
- ``quantize``: the QuantizeLinear / DequantizeLinear left (at least one of each at the model's edges);
- ``move``: nodes that only move integer tensors (Transpose, Flatten, Reshape ...).

It also lists the convolutions by the name they had in the int8 model, so a convolution kept in float on
purpose (``nodes_to_exclude``) can be told from one ORT did not fuse (``unfused_convs``). A block kept in
float stays float; a convolution kept in float *alone*, between a DequantizeLinear and a QuantizeLinear, may
not: recent ONNX Runtime quantizes such a node's weights itself when it loads the model (its
WeightBiasQuantization step, per-tensor int8) and runs it on QLinearConv, so the host computes in int8 what
the exact path computes in float. ORT's choices depend on the CPU (x86 or ARM kernels), so the table
describes this machine's host path.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from effv2nb.core.atomic import atomic_path

KINDS = ("integer", "float", "quantize", "move")
QDQ = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
INTEGER = {"QGemm", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
           "QAttention", "QEmbedLayerNormalization", "QOrderedMatMul", "QOrderedLayerNormalization"}
_FLOAT_OUT = {"DequantizeLinear", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}
_NOT_FLOAT_OUT = {"QuantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "Shape", "Size"}
_FLOAT_TYPES = {1, 10, 11, 16}     # TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16
_ACTIVATIONS = {"Sigmoid", "Relu", "Clip", "LeakyRelu", "HardSigmoid", "Tanh"}   # what ORT fuses into a Conv


def is_integer_kernel(op_type: str) -> bool:
    """True for ONNX Runtime's integer kernels (``QLinear*``, ``QGemm``, ``ConvInteger`` ...)."""
    return op_type.startswith("QLinear") or op_type.startswith("NhwcQLinear") or op_type in INTEGER


def optimized_graph(onnx_path, dst) -> Path:
    """Save the graph ONNX Runtime makes of ``onnx_path`` when it optimizes it for the host path to ``dst``."""
    from effv2nb.core.ort_session import ort_session

    ort_session(onnx_path, optimize=True, optimized_path=dst)
    return Path(dst)


def count_kernels(onnx_path, keep=None) -> dict:
    """Per op type, the nodes of ``onnx_path``'s optimized graph in each kind (see the module's docstring).

    Returns ``{"model", "ort", "integer": {op: n}, "float": {op: n}, "quantize": {op: n}, "move": {op: n},
    "convs": {"total": n, "integer": n, "float": [names]}}`` (op counts most first; ``float`` convolutions by
    their name in ``onnx_path``). ``keep``: also save the optimized graph there.
    """
    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="effv2nb-kernels-") as tmp:
        path = optimized_graph(onnx_path, Path(tmp) / "optimized.onnx")
        graph = onnx.load(str(path)).graph
        if keep:
            with atomic_path(keep) as dst:
                shutil.copyfile(path, dst)
    table = classify(graph, onnx.load(str(onnx_path), load_external_data=False).graph)
    table = {"model": str(onnx_path), "ort": onnxruntime.__version__, **table}
    return table


def classify(graph, source=None) -> dict:
    """``count_kernels``'s counts for an optimized ``onnx.GraphProto``; ``source``: the graph it was
    optimized from, to name each convolution as it was named there (``conv_namer``)."""
    floats = float_tensors(graph)
    name_of = conv_namer(source)
    counts = {k: Counter() for k in KINDS}
    convs = {"total": 0, "integer": 0, "float": []}
    for n in graph.node:
        kind = kind_of(n, floats)
        counts[kind][n.op_type] += 1
        if "Conv" in n.op_type and "ConvTranspose" not in n.op_type:
            convs["total"] += 1
            if kind == "integer":
                convs["integer"] += 1
            else:
                convs["float"].append(name_of(n))
    out = {k: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for k, c in counts.items()}
    out["convs"] = convs
    return out


def kind_of(node, floats: set) -> str:
    """``integer``, ``quantize``, ``float`` (its first input is a float tensor) or ``move``."""
    if is_integer_kernel(node.op_type):
        return "integer"
    if node.op_type in QDQ:
        return "quantize"
    data = next((i for i in node.input if i), None)
    return "float" if data in floats else "move"


def float_tensors(graph) -> set:
    """Names of the float tensors of ``graph``: its float inputs and initializers, and what each node
    makes of them (DequantizeLinear -> float, QuantizeLinear and the integer kernels -> integer, a QGemm
    without an output scale -> float, a Cast -> its ``to``, anything else -> the type of its first input)."""
    floats = {v.name for v in graph.input if v.type.tensor_type.elem_type in _FLOAT_TYPES}
    floats |= {i.name for i in graph.initializer if i.data_type in _FLOAT_TYPES}
    for n in _topological(graph):
        if n.op_type == "Cast":
            to = next((a.i for a in n.attribute if a.name == "to"), 0)
            made = to in _FLOAT_TYPES
        elif n.op_type in _FLOAT_OUT:
            made = True
        elif n.op_type == "QGemm":
            made = len(n.input) < 7 or not n.input[6]        # no y_scale: a float output
        elif n.op_type in _NOT_FLOAT_OUT or is_integer_kernel(n.op_type):
            made = False
        else:
            made = next((i for i in n.input if i), None) in floats
        if made:
            floats.update(o for o in n.output if o)
    return floats


def _topological(graph):
    """The nodes of ``graph`` with every producer before its consumers (ORT saves them so; kept safe)."""
    known = {v.name for v in graph.input} | {i.name for i in graph.initializer} | {""}
    made_by = {o for n in graph.node for o in n.output}
    pending, out = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known or i not in made_by for i in n.input)]
        if not ready:                   # a cycle cannot be in a valid graph; keep the rest in file order
            ready = pending
        for n in ready:
            known.update(n.output)
        out.extend(ready)
        pending = [n for n in pending if n not in ready]
    return out


def source_name(name: str) -> str:
    """The name a node had before ORT fused or re-laid it (``<node>_token_<n>``, ``<node>_nchwc`` dropped)."""
    name = re.sub(r"(_token_\d+)+$", "", name)
    return name[: -len("_nchwc")] if name.endswith("_nchwc") else name


def conv_namer(source=None):
    """A function giving an optimized convolution node the name of its node in ``source`` (a GraphProto).

    ORT names a fused node ``<node>_token_<n>``, and an NCHWc node after its output tensor
    (``<tensor>_nchwc``), which is the output of the activation it absorbed (``.../act/Sigmoid_output_0``):
    that tensor's producer in ``source``, followed back through activations, is the convolution.
    """
    nodes = {n.name for n in source.node} if source is not None else set()
    producer = {o: n for n in source.node for o in n.output} if source is not None else {}

    def name_of(node) -> str:
        name = source_name(node.name or node.output[0])
        if name in nodes or name not in producer:
            return name
        p = producer[name]
        while p.op_type in _ACTIVATIONS and p.input and p.input[0] in producer:
            p = producer[p.input[0]]
        return p.name or name

    return name_of


def unfused_convs(table: dict, nodes_to_exclude=()) -> list:
    """The float convolutions of ``count_kernels``'s ``table`` that were not kept in float on purpose."""
    keep = {str(n) for n in nodes_to_exclude}
    return [c for c in table["convs"]["float"] if c not in keep]


def format_kernels(table: dict, nodes_to_exclude=None) -> str:
    """``count_kernels``'s table in a few lines: each kind with its op counts, then the convolutions.

    With ``nodes_to_exclude`` (a recipe's), float convolutions are split into kept on purpose and not fused.
    """
    labels = {"integer": "integer kernels", "float": "float (between DQ and Q)",
              "quantize": "quantize / dequantize", "move": "integer data movement"}
    lines = [f"{Path(table['model']).name}: ONNX Runtime {table['ort']} optimized graph (host path, this CPU)"]
    for k in KINDS:
        ops = table[k]
        body = ", ".join(f"{op} {n}" for op, n in ops.items()) or "none"
        lines.append(f"  {labels[k]:<26} {sum(ops.values()):>4}: {body}")
    c = table["convs"]
    line = f"  convolutions: {c['integer']} of {c['total']} on integer kernels"
    if c["float"]:
        if nodes_to_exclude is None:
            line += f"; in float: {_names(c['float'])}"
        else:
            unfused = unfused_convs(table, nodes_to_exclude)
            line += f"; {len(c['float']) - len(unfused)} kept in float on purpose; not fused: {_names(unfused)}"
    lines.append(line)
    return "\n".join(lines)


def _names(names, most: int = 6) -> str:
    names = list(names)
    more = f" ... ({len(names) - most} more)" if len(names) > most else ""
    return (", ".join(names[:most]) or "none") + more
