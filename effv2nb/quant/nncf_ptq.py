"""Notebook 05, ``python -m effv2nb int8-report``: NNCF's quantization.

NNCF's post-training int8 quantization of an ONNX model, as a peer to the suite's own recipes.

Serves notebook 05's side-by-side table and ``python -m effv2nb int8-report``: the same fp32 ONNX and
calibration images, quantized by NNCF (``nncf.quantize`` on an ``onnx.ModelProto``) instead of ORT's
``quantize_static`` (``compile.ort_quantize.quantize_int8``); the result is a plain QDQ model, scored like every
other int8 model (``int8_paths.score``: exact and host).

NNCF's defaults on a CNN in ONNX (NNCF 3.4, read from the models it writes): preset ``performance``
(``mixed`` only for ``model_type="transformer"``): weights int8 symmetric per output channel,
-127..127; activations per tensor, symmetric (zero point 0; int8, uint8 where the calibrated minimum
is >= 0), range = the mean over images of each image's min / max. Fast bias correction on; the
squeeze-excitation convolutions stay float (NNCF's ignored patterns). Overflow fix ``first_layer``,
applied by the ONNX backend too: the first convolution's weights use half the range (-64..64, 7 bits)
against u8 x s8 kernels that add in saturating 16-bit pairs (x86 without VNNI). ORT's CPU fuses only
the uint8-activation convolutions, so on the host path most of NNCF's model runs as float + Q/DQ.

Offline: NNCF reports usage to Google Analytics (``openvino-telemetry``) unless told not to. This
module sets ``NNCF_CI=1`` (``os.environ.setdefault``) before NNCF is imported, so NNCF swaps its
telemetry for a stub; ``CI=true`` during that one import makes openvino-telemetry decline, so no
client ID is written under ``~/intel``. ``NNCF_CI=""`` keeps NNCF's telemetry. During a call NNCF's
progress bars and prints go nowhere, its log lines to ``LAST["log"]``, its warnings also to ``log``.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

from effv2nb.core.atomic import atomic_path
from effv2nb.core.errors import Effv2nbError

os.environ.setdefault("NNCF_CI", "1")    # must precede ``import nncf``: NNCF reads it at import
QUANTIZE_KEYS = ("fast_bias_correction", "target_device", "model_type", "ignored_scope")  # nncf.quantize's own
LAST: dict = {}     # the last call: calibration items fed to NNCF, seconds, NNCF's log lines


def _nncf():
    """``import nncf`` with its telemetry off (module docstring); the module."""
    off = bool(os.environ.get("NNCF_CI"))
    decline = off and "nncf" not in sys.modules and "CI" not in os.environ
    if decline:
        os.environ["CI"] = "true"
    try:
        import nncf
        from nncf.telemetry import decorator, wrapper
    finally:
        if decline:
            os.environ.pop("CI", None)
    if off and not isinstance(decorator.telemetry, wrapper.NNCFTelemetryStub):
        # NNCF was imported before this module, without NNCF_CI: stub the telemetry it calls
        decorator.telemetry = wrapper.telemetry = wrapper.NNCFTelemetryStub()
    return nncf


@contextlib.contextmanager
def _quiet(log=None):
    """NNCF's log lines to ``LAST["log"]`` (warnings also to ``log``); progress bars, prints to nowhere."""
    import rich

    loggers = [logging.getLogger("nncf"), logging.getLogger("torch.utils.cpp_extension")]
    saved = [(lg.handlers[:], lg.level) for lg in loggers]
    handler = logging.Handler(logging.INFO)

    def emit(record):
        LAST["log"].append(" ".join(f"nncf {record.levelname.lower()}: {record.getMessage()}".split()))
        if log and record.levelno >= logging.WARNING:
            log(LAST["log"][-1])

    handler.emit = emit
    loggers[0].handlers = [handler]
    loggers[0].setLevel(logging.INFO)
    loggers[1].setLevel(logging.ERROR)   # torch's "No CUDA runtime is found", on NNCF's first use
    console = rich.get_console()         # NNCF's progress bars draw on rich's global console
    state = dict(console.__dict__)
    rich.reconfigure(file=io.StringIO(), force_terminal=False, force_jupyter=False)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        console.__dict__ = state
        for lg, (handlers, level) in zip(loggers, saved):
            lg.handlers = handlers
            lg.setLevel(level)


def _load(fp32_onnx):
    try:
        model = onnx.load(str(fp32_onnx))
        inits = {i.name for i in model.graph.initializer}
        return model, next(i.name for i in model.graph.input if i.name not in inits)
    except Exception as exc:   # missing file, protobuf's DecodeError, no input (StopIteration)
        why = (str(exc).strip().splitlines() or ["no graph input"])[0][:120]
        raise Effv2nbError(f"cannot read the ONNX model ({type(exc).__name__}: {why})", fp32_onnx) from None


def _split(nncf, preset, advanced: dict, key="advanced_parameters") -> dict:
    """Keywords for NNCF: its own (``QUANTIZE_KEYS``), the preset, the rest as AdvancedQuantizationParameters."""
    top = {k: advanced.pop(k) for k in QUANTIZE_KEYS if k in advanced}
    if preset is not None:
        top["preset"] = nncf.QuantizationPreset(str(getattr(preset, "value", preset)).lower())
    top[key] = nncf.AdvancedQuantizationParameters(**advanced)
    return top


def settings(preset=None, subset_size=None, **advanced) -> dict:
    """NNCF's version and the settings a call with these arguments uses, defaults filled in."""
    from importlib.metadata import version

    out = {"quantizer": "nncf", "nncf": version("nncf"), "subset_size": subset_size,
           "preset": str(getattr(preset, "value", preset) or "performance").lower(),
           "fast_bias_correction": True, "target_device": "ANY", "overflow_fix": "first_layer"}
    out.update({k: str(getattr(v, "value", v)) for k, v in advanced.items()})
    return out


def _run(fn, fp32_onnx, out_onnx, calib, subset_size, log, preset, advanced, **kw) -> Path:
    nncf = _nncf()
    model, name = _load(fp32_onnx)
    items = [a[None] if a.ndim == 3 else a for a in (np.ascontiguousarray(x, np.float32) for x in calib)]
    if not items:
        raise Effv2nbError("no calibration data", fp32_onnx)
    n = len(items) if subset_size is None else min(int(subset_size), len(items))
    fed = []
    LAST.update(fn=fn, log=[], calibration_items=None, subset_size=n, seconds=None)   # this call's, as it goes
    t0 = time.perf_counter()
    with atomic_path(out_onnx) as tmp:
        try:
            key = "advanced_parameters" if fn == "quantize" else "advanced_quantization_parameters"
            kw.update(_split(nncf, preset, dict(advanced), key))   # a bad preset or keyword fails here
            with _quiet(log):
                dataset = nncf.Dataset(items, lambda x: fed.append(1) or {name: x})
                q = getattr(nncf, fn)(model, dataset, subset_size=n, **kw)
        except Effv2nbError:
            raise
        except Exception as exc:   # NNCF's errors share no base class; the cause stays chained
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise Effv2nbError(f"NNCF quantization failed: {type(exc).__name__}: {first}", fp32_onnx) from exc
        onnx.save(q, str(tmp))
    LAST.update(calibration_items=len(fed), seconds=round(time.perf_counter() - t0, 3))
    return Path(out_onnx)


def quantize_nncf(fp32_onnx, out_onnx, calib, preset=None, subset_size=None, log=None, **advanced) -> Path:
    """``nncf.quantize`` of ``fp32_onnx`` into ``out_onnx`` (QDQ, written atomically); its path.

    ``calib``: float32 arrays (1, 3, H, W) or (3, H, W) (``eval_sets.calibration_arrays``), of
    which NNCF uses the first ``subset_size`` (default: all, the images the suite's recipes see; NNCF's
    own default is 300). ``preset``: None (NNCF's default: ``performance`` here) or ``"mixed"``
    (asymmetric activations). Other keywords go to ``nncf.quantize`` (``QUANTIZE_KEYS``) or to
    ``nncf.AdvancedQuantizationParameters`` (e.g. ``overflow_fix="disable"``).
    """
    return _run("quantize", fp32_onnx, out_onnx, calib, subset_size, log, preset, advanced)


def quantize_nncf_ac(fp32_onnx, out_onnx, calib, selection_x, selection_target, max_drop: float = 0.01,
                     preset=None, subset_size=None, log=None, max_num_iterations=None, **advanced) -> Path:
    """``nncf.quantize_with_accuracy_control``: NNCF's PTQ, then layers back to float until the metric holds.

    The metric is measured on a *selection* set ``selection_x`` (N, 3, H, W), never the images the
    result is reported on. ``selection_target`` = fp32 logits (N, C): top-1 agreement with fp32, the
    suggested choice: no labels needed, the suite's int8 figures are all measured so, and it counts only
    quantization's own flips (on a small set, accuracy lets a flip that fixes a wrong fp32 answer cancel
    one that breaks a right one). Class indices (N,): top-1 accuracy. ``max_drop``: absolute, a fraction
    (0.01 = one point). Candidates run with ORT's optimizations off: the exact QDQ arithmetic.
    """
    from effv2nb.device.runtime import OrtRunner

    nncf, kw = _nncf(), {}
    if max_num_iterations is not None:   # how many layers NNCF may give back to float, at most
        kw["advanced_accuracy_restorer_parameters"] = nncf.AdvancedAccuracyRestorerParameters(
            max_num_iterations=int(max_num_iterations))
    x, target = np.asarray(selection_x, np.float32), np.asarray(selection_target)
    if len(x) != len(target) or not len(x):
        raise Effv2nbError(f"selection set: {len(x)} images, {len(target)} targets")
    want_all = target.argmax(1) if target.ndim == 2 else target
    cache = {}

    def validate(model, data):
        if cache.get("model") is not model:   # NNCF calls this once per item while ranking
            with tempfile.TemporaryDirectory(prefix="effv2nb-nncf-") as tmp:
                onnx.save(model, f"{tmp}/m.onnx")
                cache.update(model=model, run=OrtRunner(f"{tmp}/m.onnx", ["CPUExecutionProvider"], optimize=False))
        idx = np.array([int(i) for i, _ in data])
        hits = (cache["run"].run(x[idx]).argmax(1) == want_all[idx]).astype(float)
        return float(hits.mean()), hits.tolist()

    name = _load(fp32_onnx)[1]
    selection = nncf.Dataset(list(enumerate(x)), lambda item: {name: item[1][None]})
    return _run("quantize_with_accuracy_control", fp32_onnx, out_onnx, calib, subset_size, log, preset, advanced,
                validation_dataset=selection, validation_fn=validate, max_drop=float(max_drop), **kw)
