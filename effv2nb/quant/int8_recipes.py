"""int8 recipes: the arguments of one quantization, as data (notebook 05, ``int8-report``, ``bench``).

A ``Recipe`` is what ``effv2nb.compile.ort_quantize.quantize_int8`` takes (calibrate mode, per-channel weights,
7-bit weights, nodes kept in float, ...) plus the number of calibration images. ``reduce_range`` may
be ``"auto"``: then the recipe is quantized the way ``compile`` does it (``effv2nb.quant.int8_guard``), with
8-bit weights unless this CPU's fused kernels saturate with them, and the decision is written next
to the model as ``<model>.json``. ``build_yaml_quantize`` turns a recipe into the build YAML's
``backend.quantize`` section, so what a notebook chose is what ``compile`` builds. A model already
built in this process with the same arguments and calibration arrays is copied, not quantized again
(``effv2nb.quant.build_cache``); ``is_built`` says whether a recipe will be.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effv2nb.core.atomic import write_text
from effv2nb.quant import build_cache
from effv2nb.quant.int8_guard import AUTO

GUARD_IMAGES = 16    # calibration images the auto decision measures exact against host on
ORT_DEFAULT_PERCENTILE = 99.999   # ONNX Runtime's CalibPercentile when none is given


@dataclass
class Recipe:
    """One int8 recipe: the arguments of ``compile.ort_quantize.quantize_int8`` plus the calibration count."""

    name: str
    calibrate_mode: str = "max"
    per_channel: bool = True
    reduce_range: bool | str = False          # True, False or "auto" (decided per CPU, as compile does)
    num_calib: int = 50
    nodes_to_exclude: tuple = ()
    op_types_to_quantize: tuple | None = None
    activation_symmetric: bool = False
    percentile: float | None = None
    note: str = ""

    def extra_options(self) -> dict:
        opts = {"ActivationSymmetric": bool(self.activation_symmetric)}
        if self.percentile is not None:
            opts["CalibPercentile"] = float(self.percentile)
        return opts

    def _key(self, fp32_onnx, calib, reduce_range):
        """What the quantized file depends on (``build_cache``): not the name, not the note."""
        opts = self.extra_options()
        if self.calibrate_mode == "percentile":
            opts.setdefault("CalibPercentile", ORT_DEFAULT_PERCENTILE)
        return build_cache.key(fp32_onnx, list(calib)[: self.num_calib], calibrate_mode=self.calibrate_mode,
                               per_channel=bool(self.per_channel), reduce_range=str(reduce_range),
                               nodes_to_exclude=tuple(self.nodes_to_exclude),
                               op_types_to_quantize=self.op_types_to_quantize, extra_options=opts)

    def is_built(self, fp32_onnx, calib) -> bool:
        """True when ``quantize`` would copy an earlier model of this process instead of quantizing."""
        return build_cache.lookup(self._key(fp32_onnx, calib, self.reduce_range)) is not None

    def _quantize_once(self, fp32_onnx, out_onnx, calib, reduce_range: bool) -> Path:
        import time

        from effv2nb.compile.ort_quantize import quantize_int8

        k = self._key(fp32_onnx, calib, bool(reduce_range))
        if build_cache.copy(k, out_onnx) is not None:
            return Path(out_onnx)
        t = time.perf_counter()
        out = quantize_int8(fp32_onnx, out_onnx, list(calib)[: self.num_calib],
                            calibrate_mode=self.calibrate_mode, per_channel=self.per_channel,
                            reduce_range=bool(reduce_range), nodes_to_exclude=tuple(self.nodes_to_exclude),
                            op_types_to_quantize=self.op_types_to_quantize, extra_options=self.extra_options())
        build_cache.store(k, out, time.perf_counter() - t)
        return out

    def quantize(self, fp32_onnx, out_onnx, calib, log=None) -> Path:
        """Quantize ``fp32_onnx`` into ``out_onnx`` on the first ``num_calib`` of ``calib``.

        With ``reduce_range="auto"``: 8-bit weights, measured exact against host on a spread of the
        calibration images; 7-bit weights instead where the host loses more than 1 dB (the decision
        lands in ``<out_onnx>.json``; ``log`` gets the one line ``compile`` would print).
        """
        if self.reduce_range != AUTO:
            return self._quantize_once(fp32_onnx, out_onnx, calib, bool(self.reduce_range))
        import time

        from effv2nb.quant import int8_guard
        from effv2nb.data.folds import spread
        from effv2nb.quant.int8_paths import run

        out_onnx = Path(out_onnx)
        calib = list(calib)[: self.num_calib]
        k = self._key(fp32_onnx, calib, AUTO)
        if build_cache.copy(k, out_onnx, side=True) is not None:
            decision = json.loads(out_onnx.with_suffix(".json").read_text())["reduce_range"]
            if log and len(decision["candidates"]) > 1:      # the line the build printed
                log(f"{self.name}: reduce_range auto: {decision['reason']}")
            return out_onnx
        t = time.perf_counter()
        probe = np.concatenate([np.asarray(a).reshape(-1, *np.shape(a)[-3:]) for a in spread(calib, GUARD_IMAGES)])
        ref = run(fp32_onnx, probe)
        made = {}

        def measure(rr):
            made[rr] = self._quantize_once(fp32_onnx, out_onnx.with_name(f"{out_onnx.stem}.rr_{rr}.onnx"), calib, rr)
            return int8_guard.check(ref, made[rr], probe)

        decision = int8_guard.decide(AUTO, measure, log or (lambda _line: None), where=self.name)
        made[decision["chosen"]].replace(out_onnx)
        for p in made.values():
            p.unlink(missing_ok=True)
        write_text(out_onnx.with_suffix(".json"),
                   json.dumps({"recipe": self.name, "reduce_range": decision}, indent=1, default=str) + "\n")
        seconds = time.perf_counter() - t
        build_cache.store(self._key(fp32_onnx, calib, bool(decision["chosen"])), out_onnx, seconds)
        build_cache.store(k, out_onnx, seconds)
        return out_onnx

    def replace(self, **kw) -> "Recipe":
        return dataclasses.replace(self, **kw)

    def build_yaml_quantize(self) -> dict:
        """The ``backend.quantize`` section of a build YAML for this recipe (as compile reads it)."""
        q = {"calibrate_mode": self.calibrate_mode, "quantize_per_channel": bool(self.per_channel),
             "reduce_range": self.reduce_range if self.reduce_range == AUTO else bool(self.reduce_range)}
        if self.nodes_to_exclude:
            q["nodes_to_exclude"] = list(self.nodes_to_exclude)
        if self.calibrate_mode == "percentile" and self.percentile is not None:
            q["calib_percentile"] = float(self.percentile)
        if self.activation_symmetric:
            from effv2nb.core.errors import Effv2nbError

            raise Effv2nbError(f"recipe '{self.name}': symmetric activations have no build YAML key, so compile "
                               "cannot build this recipe")
        return q


def chosen_reduce_range(onnx_path):
    """The ``reduce_range`` an ``"auto"`` recipe ended up with (from ``<model>.json``), else None."""
    side = Path(onnx_path).with_suffix(".json")
    if not side.is_file():
        return None
    return json.loads(side.read_text())["reduce_range"]["chosen"]


def stock_recipe(num_calib: int = 50) -> Recipe:
    """The stock recipe: every op ORT can quantize, MinMax ranges, per-tensor weights, 8-bit weights."""
    return Recipe("stock (all ops, max, per-tensor)", "max", per_channel=False, reduce_range=False,
                  num_calib=num_calib)


def grid_recipes(num_calib: int = 50, reduce_range=AUTO) -> list:
    """int8 for each calibrate mode x per-channel on/off (the rows of the accuracy table)."""
    return [Recipe(f"int8 {mode}, {'per-channel' if pc else 'per-tensor'}", mode, per_channel=pc,
                   reduce_range=reduce_range, num_calib=num_calib)
            for mode in ("max", "percentile", "kl_divergence") for pc in (False, True)]


def fast_recipe(num_calib: int = 300, nodes_to_exclude=()) -> Recipe:
    """All ops int8, MinMax, per-channel weights, reduce_range auto: the fastest layout on ORT's CPU kernels.

    Float is re-introduced only block by block (``int8_search.speed_aware_search``): a whole block
    kept in float costs one Quantize/Dequantize pair at each end, whereas "all SiLU in float" or "all SE
    in float" puts a pair around every activation and cuts the int8 speed-up by more than half on rw_t.
    """
    return Recipe("fast: all int8, max, per-channel" + (" + float blocks" if nodes_to_exclude else ""),
                  "max", per_channel=True, reduce_range=AUTO, num_calib=num_calib,
                  nodes_to_exclude=tuple(nodes_to_exclude))
