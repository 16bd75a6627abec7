"""One ONNX model scored on an evaluation set: notebook 05, ``int8-report`` (and ``bench --compare``).

``evaluate_onnx``: top-1/top-5, top-1 agreement and logit SQNR against fp32, size, images/s;
``ort_run`` runs a model on host arrays in batches.
SQNR = 10 log10(sum ref^2 / sum (ref - test)^2) in dB, over all logits.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from effv2nb.core.metrics import agreement, sqnr_db, topk_rates
from effv2nb.quant import int8_paths
from effv2nb.quant.eval_sets import EvalSet


def ort_run(onnx_path, x, batch: int = 64, threads=None) -> np.ndarray:
    """Scores of an ONNX model on an array (N, 3, H, W) or an ``EvalSet``."""
    from effv2nb.device.runtime import OrtRunner

    r = OrtRunner(onnx_path, providers=["CPUExecutionProvider"], threads=threads)
    chunks = x.batches(batch) if isinstance(x, EvalSet) else (x[i:i + batch] for i in range(0, len(x), batch))
    return np.concatenate([r.run(c) for c in chunks])


def images_per_s(onnx_path, x, batch: int = 64, repeats: int = 5) -> float:
    """Images per second of ORT on one in-memory batch, best of ``repeats`` (noisy on a shared CPU)."""
    from effv2nb.device.runtime import OrtRunner, time_model

    x = x.head(batch) if isinstance(x, EvalSet) else x[:batch]
    return time_model(OrtRunner(onnx_path, providers=["CPUExecutionProvider"]), x, repeats=repeats)


def is_qdq(onnx_path) -> bool:
    """True for a model with QuantizeLinear nodes (one whose exact and host results can differ)."""
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    return any(n.op_type == "QuantizeLinear" for n in m.graph.node)


def evaluate_onnx(onnx_path, evalset: EvalSet, ref_logits=None, speed: bool = True, name: str = "") -> dict:
    """Accuracy on the exact path, the host's too, size (MB) and images/s (host) of one model.

    ``top1``, ``top5``, ``agree_fp32``, ``sqnr_db`` (vs ``ref_logits``) come from the exact QDQ
    arithmetic as written, the same on every CPU (the suite's model of the accelerator); ``host_top1``, ``host_agree``,
    ``host_sqnr_db`` from this CPU's fused kernels (``effv2nb.quant.int8_paths``). A float model has one
    result, reported on both.
    """
    host = ort_run(onnx_path, evalset)
    exact = int8_paths.run(onnx_path, evalset, int8_paths.EXACT) if is_qdq(onnx_path) else host
    row = {"model": name or Path(onnx_path).stem}
    for prefix, out in (("", exact), ("host_", host)):
        t1, t5 = topk_rates(out, evalset.y)
        row.update({f"{prefix}top1": t1, f"{prefix}top5": t5,
                    f"{prefix}agree{'_fp32' if not prefix else ''}":
                        agreement(ref_logits, out) if ref_logits is not None else 100.0,
                    f"{prefix}sqnr_db": sqnr_db(ref_logits, out) if ref_logits is not None else float("inf")})
    row.update({"size_mb": Path(onnx_path).stat().st_size / 1e6,
                "images_per_s": images_per_s(onnx_path, evalset) if speed else float("nan"),
                "path": str(onnx_path), "logits": exact, "host_logits": host})
    return row
