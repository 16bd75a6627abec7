"""The nodes of an ONNX graph, by kind (stem / SE / SiLU / depthwise / conv / add / head): notebook 05, ``int8-report``.

``node_table`` lists compute nodes in depth order with their kind and group; ``groups`` maps a group to
its node names (the unit ``sensitivity`` and ``greedy_fallback`` keep in float).
"""
from __future__ import annotations


KINDS = ("stem", "se", "silu", "depthwise", "conv", "add", "head", "other")


KIND_COLORS = {"stem": "tab:purple", "se": "tab:red", "silu": "tab:orange", "depthwise": "tab:green",
               "conv": "tab:blue", "add": "tab:gray", "head": "tab:brown", "other": "tab:olive"}


def node_table(onnx_path) -> list:
    """Nodes of a float ONNX graph in order: name, op_type, output, kind, group (block scope)."""
    import onnx

    m = onnx.load(str(onnx_path))
    inits = {i.name: i for i in m.graph.initializer}
    producers = {o: n for n in m.graph.node for o in n.output}
    consumers = {}
    for n in m.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    first_conv = convs[0].name if convs else None
    last_conv = convs[-1].name if convs else None
    rows = []
    for depth, n in enumerate(m.graph.node):
        name = n.name or n.output[0]
        group = _group_of(name, n, first_conv, last_conv)
        kind = _kind_of(n, name, inits, producers, consumers, first_conv, last_conv)
        rows.append({"depth": depth, "node": name, "op_type": n.op_type, "output": n.output[0],
                     "kind": kind, "group": group})
    # a node whose own kind is generic inherits stem/head from its group (its activation, pooling)
    for r in rows:
        if r["group"] in ("stem", "head") and r["kind"] in ("silu", "conv", "other", "add"):
            r["kind"] = r["group"]
    return rows


def _group_of(name, node, first_conv, last_conv):
    parts = [p for p in name.split("/") if p]
    if "blocks" in parts:
        i = parts.index("blocks")
        if i + 2 < len(parts):
            return parts[i + 2]            # e.g. blocks.3.0
        if i + 1 < len(parts):
            return parts[i + 1]
    if name == first_conv or (parts and parts[0] in ("conv_stem", "bn1")):
        return "stem"
    if name == last_conv or node.op_type in ("Gemm", "MatMul", "Flatten", "GlobalAveragePool") or (
            parts and parts[0] in ("conv_head", "bn2", "global_pool", "classifier")):
        return "head"
    return "other"


def _kind_of(n, name, inits, producers, consumers, first_conv, last_conv):
    if "/se/" in name or "/se_" in name:
        return "se"
    if n.op_type == "Conv":
        if name == first_conv:
            return "stem"
        if name == last_conv:
            return "head"
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if group > 1:
            return "depthwise"
        # structural SE test: a 1x1 conv fed (possibly through SiLU) by a spatial mean
        src = producers.get(n.input[0])
        for _ in range(3):
            if src is None:
                break
            if src.op_type == "ReduceMean":
                return "se"
            src = producers.get(src.input[0]) if src.op_type in ("Sigmoid", "Mul") else None
        return "conv"
    if n.op_type in ("Gemm", "MatMul"):
        return "head"
    if n.op_type == "Sigmoid":
        outs = consumers.get(n.output[0], [])
        if any(c.op_type == "Mul" and n.input[0] in c.input for c in outs):
            return "silu"
        return "se"          # a sigmoid gate
    if n.op_type == "Mul":
        srcs = [producers.get(i) for i in n.input]
        if any(s is not None and s.op_type == "Sigmoid" and s.input[0] in n.input for s in srcs):
            return "silu"
        return "se" if any(s is not None and s.op_type == "Sigmoid" for s in srcs) else "other"
    if n.op_type == "Add":
        return "add"
    if n.op_type in ("ReduceMean",):
        return "se"
    return "other"


def stage_of(group: str) -> str:
    """``blocks.3.1`` -> ``blocks.3`` (the stage of a block); other group names as they are."""
    parts = group.split(".")
    return ".".join(parts[:2]) if parts[0] == "blocks" and len(parts) > 2 else group


def groups(rows, level: str = "blocks") -> dict:
    """Node groups for the sensitivity search: stem, each block (``level="stages"``: each stage), head;
    plus all SE and all SiLU nodes."""
    if level not in ("blocks", "stages"):
        raise ValueError(f"level must be blocks or stages, not {level!r}")
    out = {}
    for r in rows:
        out.setdefault(stage_of(r["group"]) if level == "stages" else r["group"], []).append(r["node"])
    out["all SE"] = [r["node"] for r in rows if r["kind"] == "se"]
    out["all SiLU"] = [r["node"] for r in rows if r["kind"] == "silu"]
    return {k: v for k, v in out.items() if v}
