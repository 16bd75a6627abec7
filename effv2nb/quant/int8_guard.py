"""Notebook 05, ``python -m effv2nb compile`` (int8): the int8 guard.

``compile``'s int8 guard: the exact and the host result of a compiled model, and ``reduce_range: auto``.

Serves ``python -m effv2nb compile`` (step 3 of the vendor's flow) and notebooks 03 and 05.

After an int8 compile, the model is run on a few calibration images both ways
(``effv2nb.quant.int8_paths``): *exact* (the QDQ arithmetic as written, the suite's model of the accelerator) and *host*
(this CPU's fused kernels), each scored against the fp32 model. On x86 without VNNI the host
kernels can saturate (``effv2nb.core.cpu``) and lose many dB that the exact path never loses.

``backend.quantize.reduce_range`` (a suite extra; the vendor's ``vamc`` ignores it):

- ``auto`` (default): compile with 8-bit weights; if the host loses more than
  ``HOST_LOSS_LIMIT_DB`` against exact, compile again with 7-bit weights (``reduce_range: true``,
  which cannot saturate) and keep whichever host result is better. One line says so; ``mod.json``
  records every measurement and the choice.
- ``true`` / ``false``: obeyed; a warning line when the host loses more than the limit.
"""
from __future__ import annotations

from effv2nb.quant.int8_paths import HOST_LOSS_LIMIT_DB, score, summary

AUTO = "auto"
REDUCE_RANGE_VALUES = (True, False, AUTO)
DEFAULT_REDUCE_RANGE = AUTO


def check(ref_logits, q_onnx, probe, threads: int | None = None) -> dict:
    """Exact and host SQNR / agreement of ``q_onnx`` against ``ref_logits`` on ``probe`` (no logits kept)."""
    s = score(ref_logits, q_onnx, probe, threads=threads)
    out = summary(s)
    out["n"] = int(len(ref_logits))
    return out


def decide(setting, measure, log=print, limit_db: float = HOST_LOSS_LIMIT_DB, where: str = "") -> dict:
    """Choose ``reduce_range`` for ``setting`` (True, False or ``"auto"``).

    ``measure(reduce_range) -> check dict`` compiles with that value and measures it (``check``).
    Returns ``{"setting", "chosen", "candidates": [{"reduce_range", **check}], "reason"}``.
    Pure apart from ``measure`` and ``log``, so a recorded case from another CPU tests it.
    """
    if setting not in REDUCE_RANGE_VALUES:
        raise ValueError(f"reduce_range must be true, false or auto, not {setting!r}")
    at = f"{where}: " if where else ""
    if setting != AUTO:
        c = dict(measure(bool(setting)), reduce_range=bool(setting))
        reason = f"reduce_range {str(bool(setting)).lower()} as the config says"
        if c["host_loss_db"] > limit_db:
            log(f"warning: {at}backend.quantize.reduce_range: {str(bool(setting)).lower()}: this CPU's int8 "
                f"kernels lose {c['host_loss_db']:.1f} dB against the exact result (host {c['host_sqnr_db']:.1f} dB, "
                f"exact {c['exact_sqnr_db']:.1f} dB); 'auto' would try 7-bit weights")
            reason += f"; host loses {c['host_loss_db']:.2f} dB (over the {limit_db:g} dB limit)"
        return {"setting": bool(setting), "chosen": bool(setting), "candidates": [c], "reason": reason}

    first = dict(measure(False), reduce_range=False)
    if first["host_loss_db"] <= limit_db:
        return {"setting": AUTO, "chosen": False, "candidates": [first],
                "reason": f"8-bit weights: host within {limit_db:g} dB of exact "
                          f"({first['host_loss_db']:+.2f} dB)"}
    second = dict(measure(True), reduce_range=True)
    best = max((first, second), key=lambda c: c["host_sqnr_db"])
    chosen = best["reduce_range"]
    reason = (f"8-bit weights: host {first['host_sqnr_db']:.1f} dB vs exact {first['exact_sqnr_db']:.1f} dB "
              f"(saturation, {first['host_loss_db']:.1f} dB lost); 7-bit weights: host "
              f"{second['host_sqnr_db']:.1f} dB vs exact {second['exact_sqnr_db']:.1f} dB; kept "
              f"{'7-bit (reduce_range true)' if chosen else '8-bit (reduce_range false)'}")
    log(f"{at}reduce_range auto: {reason}")
    return {"setting": AUTO, "chosen": chosen, "candidates": [first, second], "reason": reason}
