"""Per-layer int8 error: notebook 05, ``int8-report``.

``layer_sqnr``: fp32 and int8 side by side, the SQNR of every node's output along the depth, on the
exact path (every Q/DQ as written) or the host's fused kernels; ``plot_layer_sqnr`` draws it.
"""
from __future__ import annotations

import numpy as np

from effv2nb.quant.graph_kinds import KINDS, KIND_COLORS, node_table

BATCH = 4      # images run at once: every node output of a batch is held (about 200 MB an image for rw_t at 288 px)


def _with_outputs(model, names):
    import onnx

    have = {o.name for o in model.graph.output}
    for name in names:
        if name not in have:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    return model


def _session(model, optimize: bool = False):
    from effv2nb.core.ort_session import ort_session

    sess = ort_session(model, optimize=optimize)
    return sess, sess.get_inputs()[0].name


def layer_sqnr(fp32_onnx, int8_onnx, x, path: str = "exact", batch: int = BATCH) -> list:
    """SQNR (dB) of every node's output, int8 model against fp32, on inputs ``x`` (N, 3, H, W).

    In the QDQ model a quantized tensor T is read as the 8-bit integers of its QuantizeLinear, scaled
    back (what the next node sees); a tensor left in float is read as is. ``path``: ``"exact"`` (no
    graph optimization: the QDQ arithmetic as written) or ``"host"`` (this CPU's fused kernels; only the
    quantized tensors, since reading the 8-bit outputs leaves the fusion as it is). Every node output
    of an ImageNet network at 288 px is about 200 MB per image, so ``batch`` images run at a time and
    the signal and noise sums are added up over the batches.
    """
    import onnx
    from onnx import numpy_helper

    rows = node_table(fp32_onnx)
    f = onnx.load(str(fp32_onnx))
    q = onnx.load(str(int8_onnx))
    inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    consumers = {}
    for n in q.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    q_outputs = {o for n in q.graph.node for o in n.output}
    mapping = {}
    for r in rows:
        t = r["output"]
        qn = next((c for c in consumers.get(t, []) if c.op_type == "QuantizeLinear"), None)
        if qn is not None and qn.input[1] in inits:
            zp = inits[qn.input[2]] if len(qn.input) > 2 and qn.input[2] in inits else np.zeros((), np.uint8)
            mapping[t] = (qn.output[0], inits[qn.input[1]], zp)
        elif t in q_outputs and path == "exact":
            mapping[t] = (t, None, None)
    names = [r["output"] for r in rows if r["output"] in mapping]
    qnames = list(dict.fromkeys(mapping[t][0] for t in names))
    fs, fin = _session(_with_outputs(f, names), optimize=True)
    qs, qin = _session(_with_outputs(q, qnames), optimize=path == "host")
    signal, noise = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    x = np.asarray(x)
    for i in range(0, len(x), max(1, int(batch))):
        xb = x[i:i + batch]
        ref = dict(zip(names, fs.run(names, {fin: xb})))
        got = dict(zip(qnames, qs.run(qnames, {qin: xb})))
        for t in names:
            qt, scale, zp = mapping[t]
            val = got[qt] if scale is None else (got[qt].astype(np.float32) - zp.astype(np.float32)) * scale
            r64 = ref[t].astype(np.float64)
            signal[t] += float(np.sum(r64 ** 2))
            noise[t] += float(np.sum((r64 - val) ** 2))
        del ref, got
    out = []
    for r in rows:
        t = r["output"]
        if t not in mapping:
            continue
        out.append(dict(r, quantized=mapping[t][1] is not None, sqnr_db=_db(signal[t], noise[t])))
    return out


def _db(signal: float, noise: float) -> float:
    """``effv2nb.core.metrics.sqnr_db`` from its two sums."""
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return 10.0 * float(np.log10(signal / noise))


def plot_layer_sqnr(rows, ax=None, title: str = ""):
    """SQNR along the depth; marker colour = node kind, hollow markers = left in float."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    finite = [r for r in rows if np.isfinite(r["sqnr_db"])]
    ax.plot([r["depth"] for r in finite], [r["sqnr_db"] for r in finite], color="0.8", lw=1, zorder=1)
    for kind in KINDS:
        pts = [r for r in finite if r["kind"] == kind]
        if not pts:
            continue
        q = [r for r in pts if r.get("quantized", True)]
        fl = [r for r in pts if not r.get("quantized", True)]
        if q:
            ax.scatter([r["depth"] for r in q], [r["sqnr_db"] for r in q], s=22, color=KIND_COLORS[kind],
                       label=kind, zorder=2)
        if fl:
            ax.scatter([r["depth"] for r in fl], [r["sqnr_db"] for r in fl], s=22, facecolors="none",
                       edgecolors=KIND_COLORS[kind], label=None if q else kind, zorder=2)
    ax.set_xlabel("node index along the network (topological order)")
    ax.set_ylabel("output SQNR vs fp32 (dB)")
    ax.set_title(title or "per-layer int8 error (hollow: node output left in float)")
    ax.grid(alpha=0.3)
    ax.legend(ncol=4, fontsize=8)
    return ax
