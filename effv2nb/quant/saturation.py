"""Notebook 05 (why int8 differs between CPUs).

Why int8 differs between CPUs: a numpy model of AVX2's saturating u8 x s8 pair sums on one conv.

Serves notebook 05's section on why int8 differs between CPUs, and ``tests/test_saturation.py``.
Without VNNI, ONNX Runtime's fused int8 kernels multiply RAW u8 activations (0..255; zero points are
applied later, to the int32 sums) by s8 weights with ``vpmaddubsw``, which adds each pair of adjacent
products along K into an int16 that saturates at [-32768, 32767]. MLAS convolves channels-last: K is
ordered (kh, kw, cin), borders hold the input zero point, K is padded with zeros. 8-bit weights reach
2 x 255 x 127 = 64770 per pair, 7-bit ones (``reduce_range``, |w| <= 64) 32640 at most.
``pair_sums`` (A x W), ``conv_saturation`` (one group-1 Conv of a QDQ model, exact and saturated),
``rank_convs`` (all of them), ``plot_pair_sums``. On ``qemu-x86_64 -cpu Haswell`` ORT's fused output of
each conv equals this model's (tests). Not modelled: depthwise convs (no pair sums there) and Gemm.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from effv2nb.core.metrics import sqnr_db

INT16_MIN, INT16_MAX = -32768, 32767
HIST_EDGES = np.arange(-66560, 66561, 1024)     # 1024-wide bins covering +-2 x 255 x 128
CHUNK_ELEMENTS = 1 << 22                        # int32 pair sums held at once (16 MB)


def _load(model) -> onnx.ModelProto:
    return model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))


@dataclass
class PairSums:
    saturated: np.ndarray       # (M, N) int32: sums of int16-saturated pairs (vpmaddubsw + vpmaddwd)
    exact: np.ndarray           # (M, N) int32: A @ W
    n_saturated: int            # pairs outside [-32768, 32767]
    n_pairs: int
    max_abs: int                # largest |pair sum| before saturation
    hist: np.ndarray = field(repr=False)        # counts of pair sums over HIST_EDGES
    fraction: float = 0.0                       # n_saturated / n_pairs


def pair_sums(a_u8, w_s8, chunk_elements: int = CHUNK_ELEMENTS) -> PairSums:
    """u8 x s8 dot products of A (M x K) and W (K x N) with each pair of adjacent K terms saturated to
    int16 (odd K padded with a zero), and the exact ones; ``chunk_elements`` pairs at a time (over M)."""
    a, w = np.asarray(a_u8), np.asarray(w_s8)
    if a.dtype != np.uint8 or w.dtype != np.int8 or a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"need A (M, K) uint8 and W (K, N) int8, got {a.dtype}{a.shape} and {w.dtype}{w.shape}")
    if a.shape[1] % 2:
        a, w = np.pad(a, ((0, 0), (0, 1))), np.pad(w, ((0, 1), (0, 0)))
    (m, k), n = a.shape, w.shape[1]
    we, wo = w[0::2].astype(np.int32)[None], w[1::2].astype(np.int32)[None]     # (1, K/2, N)
    sat, exact = np.empty((m, n), np.int32), np.empty((m, n), np.int32)
    hist, n_sat, max_abs = np.zeros(len(HIST_EDGES) - 1, np.int64), 0, 0
    step = max(1, chunk_elements // max(1, (k // 2) * n))
    for i in range(0, m, step):
        ac = a[i:i + step].astype(np.int32)
        p = ac[:, 0::2, None] * we + ac[:, 1::2, None] * wo                     # (m, K/2, N) pair sums
        exact[i:i + step] = p.sum(axis=1)
        n_sat += int(((p > INT16_MAX) | (p < INT16_MIN)).sum())
        max_abs = max(max_abs, int(np.abs(p).max(initial=0)))
        hist += np.bincount(((p.ravel() - HIST_EDGES[0]) >> 10), minlength=len(hist))   # 1024-wide bins
        np.clip(p, INT16_MIN, INT16_MAX, out=p)
        sat[i:i + step] = p.sum(axis=1)
    pairs = m * (k // 2) * n
    return PairSums(sat, exact, n_sat, pairs, max_abs, hist, n_sat / max(1, pairs))


# What the int8 kernel of one QDQ Conv sees. x_name: the u8 QuantizeLinear output behind the conv's input
# DequantizeLinear; w (Cout, Cin, kh, kw) int8, per-channel w_scale / w_zp; bias dequantized; pads (top,
# left, bottom, right); y_name, out_qparams: u8 output and (scale, zp) of the QuantizeLinear after it.
ConvSpec = namedtuple("ConvSpec", "node x_name x_scale x_zp w w_scale w_zp bias strides pads dilations "
                                  "y_name out_qparams")


def _index(model) -> dict:
    model = _load(model)
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    consts.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in model.graph.node
                   if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"})
    return {"consts": consts, "nodes": {n.name: n for n in model.graph.node},
            "producers": {o: n for n in model.graph.node for o in n.output}, "model": model}


def conv_spec(model, node: str, index: dict | None = None) -> ConvSpec:
    """The ``ConvSpec`` of Conv ``node`` of a QDQ ``onnx.ModelProto``; ValueError unless it is a 2-D,
    group-1 Conv with a per-tensor u8 QDQ input and constant s8 QDQ weights."""
    g = index or _index(model)
    consts, conv = g["consts"], g["nodes"].get(node)
    if conv is None or conv.op_type != "Conv":
        raise ValueError(f"no Conv node named {node!r}")
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    if attrs.get("group", 1) != 1 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ValueError(f"{node}: group > 1 (depthwise: another kernel) or auto_pad, not modelled")

    def qparams(q, what):       # (tensor, scale, zero point) of a Q/DQ node
        if q is None or q.input[1] not in consts:
            raise ValueError(f"{node}: its {what} is not quantized (kept in float?)")
        zp = consts[q.input[2]] if len(q.input) > 2 and q.input[2] else np.zeros(1, np.uint8)
        return q.input[0], np.asarray(consts[q.input[1]], np.float64).reshape(-1), zp.reshape(-1)

    def dq(name, what):
        p = g["producers"].get(name)
        return qparams(p if p is not None and p.op_type == "DequantizeLinear" else None, what)

    x_name, xs, xz = dq(conv.input[0], "input")
    w_name, ws, wz = dq(conv.input[1], "weight")
    w = consts.get(w_name)
    if xz.dtype != np.uint8 or xs.size != 1 or w is None or w.dtype != np.int8 or w.ndim != 4:
        raise ValueError(f"{node}: not a per-tensor u8 input with constant s8 4-D weights")
    b = conv.input[2] if len(conv.input) > 2 else ""
    bias = np.asarray(consts[b], np.float64) if b in consts else np.zeros(w.shape[0])
    if b and b not in consts:
        b_name, bs, bz = dq(b, "bias")
        bias = (consts[b_name].astype(np.float64) - bz.astype(np.float64)) * bs
    q = next((c for c in g["model"].graph.node if c.op_type == "QuantizeLinear" and c.input[0] == conv.output[0]),
             None)
    y_name = out_q = None
    if q is not None and q.input[1] in consts:
        _, ys, yz = qparams(q, "output")
        y_name, out_q = q.output[0], (float(ys[0]), int(yz[0]))
    full = lambda v: np.broadcast_to(v, (w.shape[0],)).copy()    # noqa: E731  per-tensor -> per-channel
    return ConvSpec(node, x_name, float(xs[0]), int(xz[0]), w, full(ws), full(wz.astype(np.int64)),
                    full(bias.reshape(-1)), tuple(attrs.get("strides", (1, 1))),
                    tuple(attrs.get("pads", (0, 0, 0, 0))), tuple(attrs.get("dilations", (1, 1))), y_name, out_q)


def eligible_convs(model, index: dict | None = None) -> list:
    """Names of the convs ``conv_spec`` models (group 1, u8 input, s8 weights), in graph order."""
    g, names = index or _index(model), []
    for n in (n for n in model.graph.node if n.op_type == "Conv"):
        try:
            names.append(conv_spec(model, n.name, g).node)
        except ValueError:
            continue
    return names


def run_tensors(model, x, names, optimize: bool = False, batch: int = 32) -> dict:
    """Tensors ``names`` of ``model`` on inputs x (N, 3, H, W), exposed as extra graph outputs; ORT with
    no graph optimization (every Q/DQ as written: the exact path) unless ``optimize``."""
    from effv2nb.core.ort_session import ort_session

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in have)
    sess = ort_session(m, optimize=optimize)
    x, inp = np.asarray(x, np.float32), sess.get_inputs()[0].name
    parts = [sess.run(list(names), {inp: x[i:i + batch]}) for i in range(0, len(x), batch)]
    return {n: np.concatenate([p[j] for p in parts]) for j, n in enumerate(names)}


@dataclass
class ConvSaturation:
    node: str
    exact: np.ndarray           # (N, Cout, OH, OW) float32: the conv output (before activation), exact
    saturated: np.ndarray       # the same with int16-saturated pair sums (AVX2 without VNNI)
    sqnr_db: float              # saturated against exact
    saturated_fraction: float
    n_saturated: int
    n_pairs: int
    max_abs_pair: int
    max_abs_weight: int
    hist: np.ndarray = field(repr=False)
    out_qparams: tuple | None = None    # (scale, zero point) of the QuantizeLinear after the conv

    def quantized(self, which: str = "saturated") -> np.ndarray:
        """The output requantized to u8 by the conv's QuantizeLinear (round half to even)."""
        scale, zp = self.out_qparams
        return np.clip(np.rint(getattr(self, which).astype(np.float64) / scale) + zp, 0, 255).astype(np.uint8)


def im2col_nhwc(x_u8, kernel, strides, pads, dilations, pad_value) -> tuple:
    """(N*OH*OW, kh*kw*C) rows of x (N, C, H, W), K ordered (kh, kw, cin); borders hold ``pad_value``."""
    n, c, h, w = x_u8.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    xp = np.pad(x_u8, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=pad_value)
    oh = (h + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pads[1] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    taps = [xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]
    cols = np.stack(taps, axis=1).transpose(0, 3, 4, 1, 2)              # (N, OH, OW, taps, C)
    return np.ascontiguousarray(cols).reshape(n * oh * ow, kh * kw * c), (n, oh, ow)


def conv_saturation(onnx_path, node, x=None, x_u8=None) -> ConvSaturation:
    """Conv ``node`` (a name or a ``ConvSpec``) of a QDQ int8 model (path or ModelProto), exact and with
    AVX2's saturating pair sums, on inputs ``x`` (N, 3, H, W; the conv's u8 input is taken from the
    exact path) or on that u8 input ``x_u8`` (N, Cin, H, W) itself, e.g. the host path's."""
    model = None if onnx_path is None else _load(onnx_path)
    s = node if isinstance(node, ConvSpec) else conv_spec(model, node)
    if x_u8 is None:
        x_u8 = run_tensors(model, x, [s.x_name])[s.x_name]
    cout, cin, kh, kw = s.w.shape
    a, (n, oh, ow) = im2col_nhwc(np.asarray(x_u8), (kh, kw), s.strides, s.pads, s.dilations, s.x_zp)
    wk = np.ascontiguousarray(s.w.transpose(2, 3, 1, 0)).reshape(kh * kw * cin, cout)
    ps = pair_sums(a, wk)
    wsum, asum = wk.astype(np.int64).sum(axis=0), a.astype(np.int64).sum(axis=1, keepdims=True)
    corr = -s.x_zp * wsum - asum * s.w_zp + wk.shape[0] * s.x_zp * s.w_zp    # raw sums -> sum (a - za)(w - zw)

    def real(acc):
        y = (acc.astype(np.int64) + corr) * (s.x_scale * s.w_scale) + s.bias
        return y.reshape(n, oh, ow, cout).transpose(0, 3, 1, 2).astype(np.float32)

    exact, sat = real(ps.exact), real(ps.saturated)
    return ConvSaturation(s.node, exact, sat, float(sqnr_db(exact, sat)), ps.fraction, ps.n_saturated, ps.n_pairs,
                          ps.max_abs, int(np.abs(s.w.astype(np.int32)).max()), ps.hist, s.out_qparams)


def rank_convs(onnx_path, x, nodes=None) -> list:
    """Every eligible conv (or ``nodes``) on inputs ``x`` (a few images: one ORT run, then numpy), most
    saturated pairs first, then lowest SQNR. Rows: node, kernel, cin, cout, saturated_fraction,
    n_saturated, sqnr_db (saturated vs exact), max_abs_pair."""
    g = _index(onnx_path)
    specs = [conv_spec(None, n, g) for n in (nodes or eligible_convs(g["model"], g))]
    xs, rows = run_tensors(g["model"], x, list(dict.fromkeys(s.x_name for s in specs))), []
    for s in specs:             # one conv's outputs in memory at a time
        r = conv_saturation(None, s, x_u8=xs[s.x_name])
        rows.append({"node": s.node, "kernel": s.w.shape[2:], "cin": s.w.shape[1], "cout": s.w.shape[0],
                     "saturated_fraction": r.saturated_fraction, "n_saturated": r.n_saturated,
                     "sqnr_db": r.sqnr_db, "max_abs_pair": r.max_abs_pair})
    return sorted(rows, key=lambda r: (-r["saturated_fraction"], r["sqnr_db"]))


def plot_pair_sums(r8: ConvSaturation, r7: ConvSaturation | None = None, ax=None, title: str = ""):
    """Histogram (log counts) of one conv's u8 x s8 pair sums with 8-bit weights and, if given, 7-bit
    (``reduce_range``) weights; the int16 limits +-32767 marked. Returns the axes (no plt.show)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.5))
    centers = (HIST_EDGES[:-1] + HIST_EDGES[1:]) / 2
    for r, bits, color in ((r8, 8, "tab:red"), (r7, 7, "tab:blue")):
        if r is not None:
            out = "= exact" if np.isinf(r.sqnr_db) else f"{r.sqnr_db:.1f} dB SQNR vs exact"
            ax.step(centers, np.maximum(r.hist, 0.5), where="mid", color=color, label=f"{bits}-bit weights (|w| <= "
                    f"{r.max_abs_weight}): {100 * r.saturated_fraction:.3f}% of pairs saturate, conv output {out}")
    for v in (-INT16_MAX, INT16_MAX):
        ax.axvline(v, color="k", ls="--", lw=1)
    ax.axvspan(HIST_EDGES[0], INT16_MIN, color="0.9")
    ax.axvspan(INT16_MAX, HIST_EDGES[-1], color="0.9", label="beyond +-32767: int16 saturates (vpmaddubsw)")
    ax.set(yscale="log", ylim=(0.5, None), xlim=(HIST_EDGES[0], HIST_EDGES[-1]), ylabel="pairs",
           xlabel="sum of a pair of raw u8 x s8 products (adjacent along K)",
           title=title or f"pair sums of {r8.node}")
    ax.legend(fontsize=8, loc="lower center")
    return ax
