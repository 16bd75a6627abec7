"""FLOPs per op type, from an ONNX graph's shapes: notebook 06 (section "Where the time goes").

``flops_by_op_type(onnx_path)`` runs ONNX shape inference (the symbolic batch axis set to ``batch``) and
counts each node once per image, in the categories ONNX Runtime's profiler summary uses
(``effv2nb.bench.timing.op_time_profile``), so the FLOP share and the time share of an op type can be
put side by side (``shares``). Convention (one multiply-add = 2 FLOPs, as ``effv2nb.model.complexity``):

- ``Conv``: 2 x output elements x (input channels / group) x kernel height x kernel width; a
  convolution with ``group`` > 1 is ``Conv (depthwise)``; the bias is not counted;
- ``Gemm`` / ``MatMul``: 2 x M x N x K;
- ``SiLU (Sigmoid x Mul)``: a Sigmoid and the Mul that multiplies its input by it (ORT runs the pair as
  one ``QuickGelu`` kernel), 1 FLOP per output element each;
- other elementwise ops (``Add``, ``Mul``, ``Sigmoid``, ...): 1 FLOP per output element;
- ``ReduceMean`` / ``GlobalAveragePool``: 1 FLOP per input element;
- shape and layout ops (``Flatten``, ``Reshape``, ORT's NCHWc ``Reorder``): 0.
"""
from __future__ import annotations

import numpy as np

SILU = "SiLU (Sigmoid x Mul)"
DEPTHWISE = "Conv (depthwise)"
REORDER = "Reorder (ORT's NCHWc layout)"
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Sigmoid", "Relu", "Clip", "HardSigmoid", "HardSwish", "Tanh",
               "Exp", "Sqrt", "Pow", "Max", "Min", "Neg", "Abs", "Erf", "Softmax"}
REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool"}
# ORT's fused kernels, named as the graph ops they replace
PROFILE_ALIASES = {"FusedConv": "Conv", "QuickGelu": SILU, "ReorderInput": REORDER, "ReorderOutput": REORDER,
                   "FusedGemm": "Gemm"}


def _shapes(model, batch: int) -> dict:
    """``{tensor name: shape}`` for every tensor shape inference can tell, symbolic dims set to ``batch``."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    out = {i.name: tuple(i.dims) for i in g.initializer}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        t = v.type.tensor_type
        if t.HasField("shape"):
            out[v.name] = tuple(d.dim_value if d.HasField("dim_value") else batch for d in t.shape.dim)
    return out


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def node_flops(onnx_path, batch: int = 1) -> list:
    """One row per node: ``{"node", "op_type", "category", "flops"}`` for ``batch`` images (see the module doc)."""
    import onnx

    model = onnx.load(str(onnx_path)) if not hasattr(onnx_path, "graph") else onnx_path
    shp = _shapes(model, batch)
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    silu = set()
    for n in nodes:      # x * sigmoid(x): the Mul and its Sigmoid
        if n.op_type == "Mul":
            for i in n.input:
                p = producer.get(i)
                if p is not None and p.op_type == "Sigmoid" and p.input[0] in n.input:
                    silu.update((id(n), id(p)))

    def size(name):
        s = shp.get(name)
        return int(np.prod(s)) if s is not None and all(d > 0 for d in s) else 0

    rows = []
    for n in nodes:
        op, out = n.op_type, size(n.output[0]) if n.output else 0
        cat = SILU if id(n) in silu else op
        if op == "Conv":
            w = shp.get(n.input[1], ())
            group = _attr(n, "group", 1)
            flops = 2 * out * int(np.prod(w[1:])) if len(w) >= 3 else 0
            cat = DEPTHWISE if group > 1 else "Conv"
        elif op in ("Gemm", "MatMul"):
            a = shp.get(n.input[0], ())
            k = (a[0] if op == "Gemm" and _attr(n, "transA", 0) else a[-1]) if a else 0
            flops = 2 * out * k
        elif op in ELEMENTWISE:
            flops = out
        elif op in REDUCE:
            flops = size(n.input[0])
        elif op == "BatchNormalization":
            flops = 2 * out
        else:
            flops = 0
        rows.append({"node": n.name or n.output[0], "op_type": op, "category": cat, "flops": int(flops)})
    return rows


def flops_by_op_type(onnx_path, batch: int = 1) -> dict:
    """``{category: FLOPs per image}``, most first; every op type of the graph appears (0 for shape ops)."""
    tot = {}
    for r in node_flops(onnx_path, batch):
        tot[r["category"]] = tot.get(r["category"], 0) + r["flops"] / batch
    return dict(sorted(tot.items(), key=lambda kv: (-kv[1], kv[0])))


def node_counts(onnx_path) -> dict:
    """``{category: number of graph nodes}`` (the same categories as ``flops_by_op_type``)."""
    out = {}
    for r in node_flops(onnx_path):
        out[r["category"]] = out.get(r["category"], 0) + 1
    return out


def profile_categories(profile_ms: dict) -> dict:
    """ORT profiler ms by op (``op_time_profile``) renamed to the graph's categories and summed:
    ``FusedConv`` counts as ``Conv``, ``QuickGelu`` as the SiLU pair, ``Reorder*`` as layout work."""
    out = {}
    for op, ms in profile_ms.items():
        base, dw = (op[: -len(" (depthwise)")], True) if op.endswith(" (depthwise)") else (op, False)
        cat = PROFILE_ALIASES.get(base, base)
        if cat == "Conv" and dw:
            cat = DEPTHWISE
        out[cat] = out.get(cat, 0.0) + ms
    return out


def shares(flops: dict, profile_ms: dict) -> list:
    """``[(category, FLOP share %, time share %)]`` over the union of both, largest time share first."""
    t = profile_categories(profile_ms)
    ft, tt = sum(flops.values()) or 1.0, sum(t.values()) or 1.0
    cats = set(flops) | set(t)
    rows = [(c, 100.0 * flops.get(c, 0) / ft, 100.0 * t.get(c, 0.0) / tt) for c in cats]
    return sorted(rows, key=lambda r: (-r[2], -r[1], r[0]))


def format_table(flops: dict, counts: dict | None = None) -> str:
    """The FLOPs table: category, nodes, MFLOP per image, share of the total (no timings: the same on every CPU)."""
    total = sum(flops.values()) or 1.0
    lines = [f"{'op type':<30} {'nodes':>5} {'MFLOP/image':>12} {'share':>7}"]
    for c, f in flops.items():
        n = "" if counts is None else counts.get(c, 0)
        lines.append(f"{c:<30} {n:>5} {f / 1e6:>12.3f} {100 * f / total:>6.2f}%")
    lines.append(f"{'total':<30} {'' if counts is None else sum(counts.values()):>5} {total / 1e6:>12.3f} {100:>6.2f}%")
    return "\n".join(lines)
