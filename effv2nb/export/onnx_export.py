"""Notebook 02, ``python -m effv2nb export``: the vendor's step 1.

Export a loaded model to ONNX (the vendor's step 1) and check the export against PyTorch.

``export_onnx`` writes one ONNX file: input ``input`` (N, 3, H, W) float32 with a dynamic
batch axis, output ``output`` (N, classes) logits, an opset ONNX Runtime runs. It uses
PyTorch's TorchScript-based exporter (``dynamo=False``): for these convolutional models it gives
a clean graph (BatchNorm folded into the convolutions, SiLU as Sigmoid * Mul) with a symbolic
batch dimension. The file is written atomically.

``check_export`` is what must hold after every export: ``onnx.checker`` passes, ONNX Runtime
and PyTorch agree on ``n`` inputs (relative L2 error of the logits, top-1 agreement), and a
count of the graph's ops by type.
"""
from __future__ import annotations

import collections
import io
import warnings
from pathlib import Path

import numpy as np
import torch

from effv2nb.core.atomic import atomic_path
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.ort_session import ort_session

DEFAULT_OPSET = 17
MAX_REL_L2 = 1e-5          # the parity thresholds the notebook and the CLI assert
MIN_TOP1_AGREEMENT = 1.0


def _input_size(model, size):
    if size is not None:
        return int(size)
    try:
        from effv2nb.model.models import info

        return int(info(model).input_size)
    except Effv2nbError:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        return int(cfg.get("input_size", (3, 224, 224))[-1])


def export_onnx(model, path, size=None, opset=None) -> Path:
    """Write ``model`` as ONNX to ``path``; returns the path.

    ``size``: input height = width (default: the model's own input size). ``opset``: default 17.
    Input ``input`` [batch, 3, size, size], output ``output`` [batch, classes]; batch is dynamic.
    """
    path = Path(path)
    size = _input_size(model, size)
    if size < 16 or size > 2048:
        raise Effv2nbError(f"input size {size} is out of range (16..2048)", where="--size")
    opset = int(opset or DEFAULT_OPSET)
    model = model.eval()
    dummy = torch.randn(1, 3, size, size)
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        buf = io.BytesIO()
        torch.onnx.export(
            model, (dummy,), buf,
            dynamo=False,
            export_params=True,
            opset_version=opset,
            do_constant_folding=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
        tmp.write_bytes(_strip_identities(buf.getvalue()))
    return path


def _strip_identities(data: bytes) -> bytes:
    """Drop the ``Identity`` nodes the exporter leaves for shared constants (rw_t: 147 of them).

    Consumers read the Identity's input directly; an Identity that feeds a graph output is kept.
    """
    import onnx

    m = onnx.load_from_string(data)
    outputs = {o.name for o in m.graph.output}
    alias = {}
    keep = []
    for node in m.graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
        else:
            keep.append(node)
    if not alias:
        return data
    for node in keep:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m.SerializeToString()


def condition_random_model(model, size=None, batches: int = 2, batch_size: int = 4, seed: int = 0):
    """Re-estimate BatchNorm statistics of a *randomly initialised* model on noise images.

    timm's random init leaves BatchNorm at mean 0 / var 1, so in eval mode nothing normalises:
    activations of efficientnetv2_rw_t grow to logits of ~1e3 and float rounding differences
    between two correct runtimes get amplified to 1e-3..1e-2 — the parity check would then test
    the random draw, not the exporter. With statistics from a few noise batches the random
    network is well conditioned. Trained models are left alone (returns False).
    """
    from effv2nb.model.models import info

    try:
        if info(model).trained:
            return False
    except Effv2nbError:
        pass
    size = _input_size(model, size)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    gen = torch.Generator().manual_seed(seed)
    saved = [(m.momentum,) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None          # cumulative average over the batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, 3, size, size, generator=gen))
    for m, (mom,) in zip(bns, saved):
        m.momentum = mom
    model.eval()
    return True


def op_counts(onnx_model) -> dict:
    """ONNX ops by type, most frequent first (``onnx_model``: a path or a ``ModelProto``)."""
    import onnx

    m = onnx.load(str(onnx_model)) if not hasattr(onnx_model, "graph") else onnx_model
    counts = collections.Counter(n.op_type for n in m.graph.node)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def graph_io(onnx_path) -> dict:
    """Names and shapes (symbolic dims as their names) of the graph inputs and outputs."""
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)

    def shape(vi):
        return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]

    return {"inputs": {i.name: shape(i) for i in m.graph.input},
            "outputs": {o.name: shape(o) for o in m.graph.output},
            "opset": max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)}


def check_export(model, onnx_path, n: int = 8, inputs=None, seed: int = 0) -> dict:
    """Check an export: ``onnx.checker``, ORT vs PyTorch on ``n`` inputs, op counts.

    ``inputs``: optional float32 NCHW array; default ``n`` seeded random-normal images.
    Returns ``rel_l2`` (||ort - torch|| / ||torch|| over all logits), ``max_abs``,
    ``top1_agreement`` (fraction), ``n``, ``op_counts``, ``io`` (names and shapes),
    ``dynamic_batch`` and ``ok`` (the thresholds ``MAX_REL_L2`` and ``MIN_TOP1_AGREEMENT`` hold).
    """
    import onnx

    onnx_path = Path(onnx_path)
    try:
        onnx.checker.check_model(str(onnx_path), full_check=True)
    except Exception as exc:
        raise Effv2nbError(f"onnx.checker failed: {str(exc).splitlines()[0][:200]}", onnx_path) from None
    io_info = graph_io(onnx_path)
    in_shape = io_info["inputs"].get("input")
    if in_shape is None:
        raise Effv2nbError("the ONNX graph has no input named 'input'", onnx_path)
    size = int(in_shape[-1])
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = rng.standard_normal((max(int(n), 1), 3, size, size), dtype=np.float32)
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(inputs)).numpy()
    sess = ort_session(onnx_path)
    out = sess.run(["output"], {"input": inputs})[0]   # the whole batch at once: exercises the dynamic axis
    rel = float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))
    agree = float(np.mean(out.argmax(1) == ref.argmax(1)))
    result = {
        "n": int(inputs.shape[0]),
        "rel_l2": rel,
        "max_abs": float(np.max(np.abs(out - ref))),
        "top1_agreement": agree,
        "op_counts": op_counts(onnx_path),
        "io": io_info,
        "dynamic_batch": isinstance(in_shape[0], str),
        "checker": "passed",
    }
    result["ok"] = bool(rel <= MAX_REL_L2 and agree >= MIN_TOP1_AGREEMENT and result["dynamic_batch"])
    return result


def format_check(result: dict) -> str:
    """The check report as printed by the CLI."""
    ops = ", ".join(f"{k} {v}" for k, v in result["op_counts"].items())
    lines = [
        f"onnx.checker: {result['checker']}",
        f"io: {result['io']['inputs']} -> {result['io']['outputs']} (opset {result['io']['opset']}, "
        f"dynamic batch: {'yes' if result['dynamic_batch'] else 'NO'})",
        f"ORT vs PyTorch on {result['n']} inputs: rel L2 {result['rel_l2']:.2e} (limit {MAX_REL_L2:.0e}), "
        f"max |diff| {result['max_abs']:.2e}, top-1 agreement {result['top1_agreement'] * 100:.1f} %",
        f"ops ({sum(result['op_counts'].values())}): {ops}",
        "parity: " + ("OK" if result["ok"] else "FAILED"),
    ]
    return "\n".join(lines)
