"""Notebook 05, ``compile`` (int8 guard) and ``int8-report``: exact and host int8 paths.

One int8 model, two ways to run it: the exact QDQ arithmetic and this CPU's fused kernels.

Used by ``compile`` (its int8 check and ``reduce_range: auto``), ``int8-report``, ``bench`` and
notebook 05 (section "The same mod.onnx, two ways").

- **exact**: the QDQ graph computed as written — ONNX Runtime with every graph optimization off, so
  each QuantizeLinear rounds and clips to 8 bits, each DequantizeLinear scales back, and the float
  operators between them see exactly the integers an integer kernel multiplies (int32 sums are
  exact; float32 reproduces them to rounding). The same on every CPU. That the accelerator computes
  this is the suite's assumption (``EXACT_ASSUMPTION``): the vendor's documentation names the
  calibration mode and the dataset, not the arithmetic of its int8 kernels.
- **host**: the same file with ONNX Runtime's default optimizations, which fuse QDQ pairs into
  integer kernels (QLinearConv, QGemm ...). On x86 without VNNI those kernels add u8 x s8 products
  in saturating 16-bit pairs (``effv2nb.core.cpu``), so the host figure can be far below the exact one.

Both are scored against the fp32 model's logits (logit SQNR in dB, top-1 agreement in %).
"""
from __future__ import annotations

import numpy as np

from effv2nb.core.metrics import agreement, sqnr_db

EXACT, HOST = "exact", "host"
PATHS = (EXACT, HOST)
HOST_LOSS_LIMIT_DB = 1.0     # the host may lose this much against exact before compile acts
EXACT_ASSUMPTION = ("exact = the QDQ arithmetic as written, what an integer accelerator that adds in 32 bits "
                    "would compute: the suite's assumption, since the vendor does not document its int8 arithmetic")


def runner(onnx_path, path: str = HOST, threads: int | None = None):
    """An ONNX Runtime CPU runner for ``path`` ``"exact"`` (no graph optimization) or ``"host"``."""
    from effv2nb.device.runtime import OrtRunner

    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, not {path!r}")
    return OrtRunner(onnx_path, providers=["CPUExecutionProvider"], threads=threads, optimize=path == HOST)


def run(onnx_path, x, path: str = HOST, batch: int = 64, threads: int | None = None) -> np.ndarray:
    """Scores (N, C) of ``onnx_path`` on ``x``: an array (N, 3, H, W), a list of (1, 3, H, W) arrays,
    or anything with ``batches(batch)`` (``eval_sets.EvalSet``)."""
    r = runner(onnx_path, path, threads)
    if hasattr(x, "batches"):
        chunks = x.batches(batch)
    else:
        if isinstance(x, (list, tuple)):
            x = np.concatenate([np.asarray(a)[None] if np.ndim(a) == 3 else np.asarray(a) for a in x])
        chunks = (x[i:i + batch] for i in range(0, len(x), batch))
    return np.concatenate([r.run(c) for c in chunks])


def score(ref_logits, onnx_path, x, threads: int | None = None, paths=PATHS) -> dict:
    """Logit SQNR (dB) and top-1 agreement (%) of ``onnx_path`` against ``ref_logits`` on each path.

    Returns ``{"exact_sqnr_db", "exact_agreement", "host_sqnr_db", "host_agreement",
    "host_loss_db", "logits": {"exact": ..., "host": ...}}`` (``host_loss_db`` = exact - host).
    """
    out = {"logits": {}}
    for p in paths:
        logits = run(onnx_path, x, p, threads=threads)
        out["logits"][p] = logits
        out[f"{p}_sqnr_db"] = sqnr_db(ref_logits, logits)
        out[f"{p}_agreement"] = agreement(ref_logits, logits)
    if EXACT in paths and HOST in paths:
        out["host_loss_db"] = loss_db(out["exact_sqnr_db"], out["host_sqnr_db"])
    return out


def loss_db(exact_db: float, host_db: float) -> float:
    """How many dB the host loses against the exact arithmetic (0 when both are identical)."""
    if np.isinf(exact_db) and np.isinf(host_db):
        return 0.0
    return float(exact_db - host_db)


def summary(scores: dict) -> dict:
    """``score``'s result without the logits, rounded for a manifest or a report line."""
    return {k: round(float(v), 3) for k, v in scores.items() if k != "logits"}
