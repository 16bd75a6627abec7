"""Notebooks 03-04, ``python -m effv2nb config``, ``infer``: the vdsp JSON (docs/vendor-files.md, section "vdsp_params JSON").

The vendor's device preprocessing file (``*-vdsp_params.json``): load, validate, generate, cross-check.

Format: ``{"OpType": ..., "OpConfig": {...}}``. Keys may be absent; the validator checks what is
there plus what the ``NormaType`` needs. It is the one validator for a vdsp file: ``config check``
runs it, and so does every command that loads one (``load_vdsp``), and it includes the checks the
host preprocessing (``resolve``, below) makes, so a file ``config check`` passes is not
refused later for the same key, nor the other way round. Numbers must be finite (``NaN``,
``Infinity`` and ``1e400`` are numbers to Python's ``json``, not here); sizes are at most
``MAX_SIDE`` pixels; Mean/Std must fit float16, the type the device keeps them in (a Std that
rounds to 0 there is refused). ``generate_vdsp`` writes one from a
model's preprocessing the way the vendor does for these models: squash-resize to the input size,
no crop offset, mean/std rounded to float16. ``effv2nb.formats.cross_check`` lists where a build config and a
vdsp file disagree (input size, mean/std, crop / resize, colour order).
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effv2nb.core import numbers
from effv2nb.core.atomic import write_text
from effv2nb.core.errors import Effv2nbError, raise_problems
from effv2nb.core.numbers import MAX_SIDE

OP_TYPES = ("FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR", "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR")
CROP_OP, NOCROP_OP = OP_TYPES


@dataclass(frozen=True)
class Norma:
    """What one ``NormaType`` does to a 0-255 pixel x: ``x / 255`` first (``div255``), then
    ``(x - Mean) / Std`` (``mean_std``), with Mean/Std on ``scale`` ("0-1" or "0-255")."""

    div255: bool
    mean_std: bool
    scale: str = ""


# The one table of NormaTypes: validation, host preprocessing and cross-check all read it.
NORMAS = {
    "DIV255_MINUSMEAN_DIVSTD": Norma(div255=True, mean_std=True, scale="0-1"),
    "MINUSMEAN_DIVSTD": Norma(div255=False, mean_std=True, scale="0-255"),
    "EQUAL": Norma(div255=False, mean_std=False),
    "DIV255": Norma(div255=True, mean_std=False),
}
NORMA_TYPES = tuple(NORMAS)
COLOR_CVT_CODES = ("NO_CHANGE", "RGB2BGR", "BGR2RGB")
RESIZE_TYPES = ("BILINEAR_CV", "BILINEAR_PILLOW")
IMAGE_FORMATS = ("RGB_PLANAR",)
INT_KEYS = ("IimageWidth", "IimageHeight", "IimageWidthPitch", "IimageHeightPitch", "ResizeWidth",
            "ResizeHeight", "OimageWidth", "OimageHeight", "CropX", "CropY")
CROP_KEYS = ("CropX", "CropY")
KEY_ORDER = ("IimageFormat", "IimageWidth", "IimageHeight", "OimageWidth", "OimageHeight", "CropX", "CropY",
             "ResizeWidth", "ResizeHeight", "IimageWidthPitch", "IimageHeightPitch", "Mean", "Std",
             "NormaType", "ColorCvtCode", "ResizeType")
KNOWN_KEYS = set(KEY_ORDER)


def f16(x) -> float:
    """A value as the vendor stores it: rounded to float16 (0.485 -> 0.485107421875)."""
    return float(np.float16(x))


def looks_like_vdsp(data) -> bool:
    return isinstance(data, dict) and ("OpType" in data or "OpConfig" in data)


def validate_vdsp(data, path=None):
    """``(errors, warnings)`` for a loaded vdsp mapping; errors are ``Effv2nbError`` with key paths."""
    import difflib

    errors, warnings = [], []
    p = None if path is None else str(path)

    def err(where, msg):
        errors.append(Effv2nbError(msg, p, where))

    if not isinstance(data, dict):
        err(None, f"a vdsp_params file is a JSON object, not {type(data).__name__}")
        return errors, warnings
    for where, message in numbers.non_finite(data):
        err(where, message)
    for k in data:
        if k not in ("OpType", "OpConfig"):
            warnings.append(Effv2nbError("unknown key, kept but not used", p, k).one_line())
    op_type = data.get("OpType")
    if op_type not in OP_TYPES:
        err("OpType", f"{op_type!r} is not allowed; one of {', '.join(OP_TYPES)}")
    cfg = data.get("OpConfig")
    if not isinstance(cfg, dict):
        err("OpConfig", "missing or not an object")
        return errors, warnings
    for k in cfg:
        if k not in KNOWN_KEYS:
            near = difflib.get_close_matches(k, KEY_ORDER, n=1, cutoff=0.7)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            warnings.append(Effv2nbError(f"unknown key, kept but not used{hint}", p, f"OpConfig.{k}").one_line())
    for k in INT_KEYS:
        if k in cfg:
            v = cfg[k]
            if not (isinstance(v, int) and not isinstance(v, bool)) or v < 0 or (v == 0 and k not in CROP_KEYS):
                err(f"OpConfig.{k}", f"must be a {'non-negative' if k in CROP_KEYS else 'positive'} integer, "
                                     f"got {numbers.shown(v)}")
            elif v > MAX_SIDE:
                err(f"OpConfig.{k}", f"{numbers.shown(v)} is over the {MAX_SIDE} pixel limit")
    if "IimageFormat" in cfg and cfg["IimageFormat"] not in IMAGE_FORMATS:
        err("OpConfig.IimageFormat", f"{cfg['IimageFormat']!r} is not allowed; one of {', '.join(IMAGE_FORMATS)}")
    for key, allowed in (("NormaType", NORMA_TYPES), ("ColorCvtCode", COLOR_CVT_CODES), ("ResizeType", RESIZE_TYPES)):
        if key not in cfg:
            if key == "NormaType":
                err(f"OpConfig.{key}", f"missing; one of {', '.join(allowed)}")
            else:
                warnings.append(Effv2nbError(f"absent (one of {', '.join(allowed)})", p, f"OpConfig.{key}").one_line())
        elif cfg[key] not in allowed:
            err(f"OpConfig.{key}", f"{cfg[key]!r} is not allowed; one of {', '.join(allowed)}")
    norma = cfg.get("NormaType")
    if isinstance(norma, str) and norma in NORMAS and NORMAS[norma].mean_std:
        for k in ("Mean", "Std"):
            v = cfg.get(k)
            if not (isinstance(v, list) and len(v) == 3 and all(numbers.is_finite_number(x) for x in v)):
                err(f"OpConfig.{k}", f"{norma} needs a list of 3 numbers (finite), got {numbers.shown(v)}")
            elif any(abs(x) > numbers.FLOAT16_MAX for x in v):
                err(f"OpConfig.{k}", f"{numbers.shown(v)} is too large for float16, the type the device keeps "
                    f"{k} in (at most {numbers.FLOAT16_MAX:g})")
            elif k == "Std" and any(x <= 0 for x in v):
                err("OpConfig.Std", f"must be positive, got {v!r}")
            elif k == "Std" and any(f16(x) == 0 for x in v):
                err("OpConfig.Std", f"{v!r} rounds to 0 in float16, the type the device keeps Std in")
            elif NORMAS[norma].scale == "0-1" and any(abs(x) > 1.5 for x in v):
                err(f"OpConfig.{k}", f"{norma} takes values on the 0-1 scale, got {v!r} "
                    "(0-255 values go with MINUSMEAN_DIVSTD)")
            elif NORMAS[norma].scale == "0-255" and k == "Mean" and all(abs(x) <= 1.0 for x in v) and any(v):
                warnings.append(Effv2nbError(
                    f"{norma} takes 0-255 values, these look like 0-1 (DIV255_MINUSMEAN_DIVSTD?)",
                    p, "OpConfig.Mean").one_line())
    if op_type == NOCROP_OP and any(k in cfg for k in CROP_KEYS):
        warnings.append(Effv2nbError(f"{NOCROP_OP} has no crop; CropX/CropY ignored", p, "OpConfig").one_line())
    # a resize size without its output size: the crop then depends on the model, which the file cannot know
    if not errors:
        unpaired = unpaired_resize(cfg)
        if unpaired:
            err(*unpaired)
    # geometry: the crop must fit inside the resized image
    if not errors and op_type == CROP_OP:
        rw, rh = cfg.get("ResizeWidth"), cfg.get("ResizeHeight")
        ow, oh = cfg.get("OimageWidth"), cfg.get("OimageHeight")
        cx, cy = cfg.get("CropX", 0), cfg.get("CropY", 0)
        if None not in (rw, ow) and cx + ow > rw:
            err("OpConfig.CropX", f"crop CropX + OimageWidth = {cx + ow} exceeds ResizeWidth {rw}")
        if None not in (rh, oh) and cy + oh > rh:
            err("OpConfig.CropY", f"crop CropY + OimageHeight = {cy + oh} exceeds ResizeHeight {rh}")
    # what the host preprocessing checks, where the file alone decides it (the output size is known)
    if not errors and "OimageWidth" in cfg and "OimageHeight" in cfg:
        try:
            resolve(data)
        except Effv2nbError as exc:
            err(exc.where, exc.message)
    return errors, warnings


# ---------------------------------------------------------------- resolve: the file in concrete sizes
@dataclass(frozen=True)
class FusionOp:
    """The resolved parameters of one vdsp fusion op for a given model input size."""

    resize_w: int
    resize_h: int
    out_w: int
    out_h: int
    crop_x: int
    crop_y: int
    norma_type: str
    color_code: str
    resize_type: str
    mean: tuple
    std: tuple


def _op_config(vdsp) -> dict:
    if isinstance(vdsp, FusionOp):
        raise TypeError("already resolved")
    if not isinstance(vdsp, dict):
        raise Effv2nbError("vdsp params must be a JSON object")
    cfg = vdsp.get("OpConfig", vdsp)
    if not isinstance(cfg, dict):
        raise Effv2nbError("'OpConfig' must be an object", where="OpConfig")
    return cfg


def _int(cfg, key, default):
    v = cfg.get(key)
    if v is None:   # absent or null: the default
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)) or int(v) != v or v < 0:
        raise Effv2nbError(f"'{key}' must be a non-negative integer, got {v!r}", where=f"OpConfig.{key}")
    if v > MAX_SIDE:
        raise Effv2nbError(f"'{key}' = {str(v)[:12]}{'...' if len(str(v)) > 12 else ''} is over the {MAX_SIDE} pixel limit", where=f"OpConfig.{key}")
    return int(v)


def unpaired_resize(cfg):
    """``(where, message)`` when the file gives a resize size without the output (crop) size beside it,
    else None. The output size then falls to the model's, which the file alone cannot know: ``config
    check`` and ``infer`` both refuse it, naming the same key."""
    for axis in ("Width", "Height"):
        if cfg.get(f"Resize{axis}") is not None and cfg.get(f"Oimage{axis}") is None:
            return (f"OpConfig.Oimage{axis}",
                    f"missing: Resize{axis} is given, so Oimage{axis} (the model input {axis.lower()}) must be too")
    return None


def resolve(vdsp, model_size=None) -> FusionOp:
    """Resolve a vdsp dict (or a ``FusionOp``) into concrete sizes for a model of input ``model_size``."""
    if isinstance(vdsp, FusionOp):
        return vdsp
    cfg = _op_config(vdsp)
    unpaired = unpaired_resize(cfg)
    if unpaired:
        raise Effv2nbError(unpaired[1], where=unpaired[0])
    if isinstance(model_size, (tuple, list)):
        mh, mw = int(model_size[-2]), int(model_size[-1])
    elif model_size is not None:
        mh = mw = int(model_size)
    else:
        mh = mw = None
    out_w = _int(cfg, "OimageWidth", mw)
    out_h = _int(cfg, "OimageHeight", mh)
    if out_w is None or out_h is None:
        raise Effv2nbError("output size unknown: the vdsp params have no OimageWidth/OimageHeight "
                           "and no model input size was given", where="OpConfig.OimageWidth")
    resize_w = _int(cfg, "ResizeWidth", out_w)
    resize_h = _int(cfg, "ResizeHeight", out_h)
    crop_x = _int(cfg, "CropX", (resize_w - out_w) // 2)
    crop_y = _int(cfg, "CropY", (resize_h - out_h) // 2)
    if min(out_w, out_h, resize_w, resize_h) < 1:
        raise Effv2nbError("sizes must be at least 1", where="OpConfig")
    if crop_x + out_w > resize_w or crop_y + out_h > resize_h or crop_x < 0 or crop_y < 0:
        raise Effv2nbError(
            f"crop {out_w}x{out_h} at ({crop_x}, {crop_y}) does not fit the resized {resize_w}x{resize_h} image",
            where="OpConfig.CropX")
    norma = cfg.get("NormaType", "DIV255_MINUSMEAN_DIVSTD")
    if norma not in NORMA_TYPES:
        raise Effv2nbError(f"unknown NormaType {norma!r}; one of {', '.join(NORMA_TYPES)}", where="OpConfig.NormaType")
    color = cfg.get("ColorCvtCode", "NO_CHANGE")
    if color not in COLOR_CVT_CODES:
        raise Effv2nbError(f"unknown ColorCvtCode {color!r}; one of {', '.join(COLOR_CVT_CODES)}",
                           where="OpConfig.ColorCvtCode")
    rtype = cfg.get("ResizeType", "BILINEAR_CV")
    if rtype not in RESIZE_TYPES:
        raise Effv2nbError(f"unknown ResizeType {rtype!r}; one of {', '.join(RESIZE_TYPES)}",
                           where="OpConfig.ResizeType")
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if NORMAS[norma].mean_std:
        for key in ("Mean", "Std"):
            v = cfg.get(key)
            if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
                raise Effv2nbError(f"NormaType {norma} needs '{key}' as 3 numbers", where=f"OpConfig.{key}")
        mean, std = tuple(float(x) for x in cfg["Mean"]), tuple(float(x) for x in cfg["Std"])
        if any(s == 0 for s in std):
            raise Effv2nbError("Std must not contain 0", where="OpConfig.Std")
    return FusionOp(resize_w, resize_h, out_w, out_h, crop_x, crop_y, norma, color, rtype, mean, std)



def read_json(path):
    from effv2nb.core.textio import read_text

    return parse_json(read_text(path, "vdsp params file"), Path(path))


def parse_json(text: str, path=None):
    """``json.loads`` whose every failure is an ``Effv2nbError`` naming the file (and line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Effv2nbError(f"not valid JSON: {exc.msg}", path, f"line {exc.lineno}") from None
    except RecursionError:
        raise Effv2nbError("not valid JSON: nested too deeply", path) from None
    except ValueError as exc:   # e.g. an integer of thousands of digits (Python's int-size guard)
        raise Effv2nbError(f"not valid JSON: {str(exc)[:120]}", path) from None


def load_vdsp(path, with_warnings: bool = False):
    """Load and validate a vdsp_params JSON; returns the dict (and warnings if asked)."""
    data = read_json(path)
    errors, warnings = validate_vdsp(data, path)
    if errors:
        raise_problems(errors)
    return (data, warnings) if with_warnings else data


def dumps_vdsp(d) -> str:
    """JSON text exactly as the vendor writes it (4-space indent, no trailing newline)."""
    return json.dumps(d, indent=4)


def save_vdsp(d, path, backup: bool = True) -> Path:
    """Validate and write atomically (4-space indent like the vendor's files); old file -> ``.bak``."""
    errors, _ = validate_vdsp(d, path)
    if errors:
        raise_problems(errors)
    return write_text(path, dumps_vdsp(d), backup=backup)


def generate_vdsp(model_or_info, size=None, resize_type: str = "BILINEAR_CV") -> dict:
    """A vdsp_params dict for a model (``nn.Module`` from ``models.load``, a ``ModelInfo``, or a name).

    Same layout as the vendor's EfficientNetV2 files: squash-resize to ``size`` x ``size``, crop at
    (0, 0) of the same size, ``DIV255_MINUSMEAN_DIVSTD`` with mean/std rounded to float16.
    """
    from effv2nb.model.models import ModelInfo

    info = model_or_info
    if isinstance(info, str):
        info = model_defaults(info)
    elif not isinstance(info, ModelInfo):
        from effv2nb.model.models import info as model_info

        info = model_info(model_or_info)
    s = int(size or info.input_size)
    if s <= 0:
        raise Effv2nbError(f"size must be positive, got {s}", where="--size")
    return {
        "OpType": CROP_OP,
        "OpConfig": {
            "IimageFormat": "RGB_PLANAR",
            "IimageWidth": s, "IimageHeight": s,
            "OimageWidth": s, "OimageHeight": s,
            "CropX": 0, "CropY": 0,
            "ResizeWidth": s, "ResizeHeight": s,
            "IimageWidthPitch": s, "IimageHeightPitch": s,
            "Mean": [f16(x) for x in info.mean],
            "Std": [f16(x) for x in info.std],
            "NormaType": "DIV255_MINUSMEAN_DIVSTD",
            "ColorCvtCode": "NO_CHANGE",
            "ResizeType": resize_type,
        },
    }


@functools.lru_cache(maxsize=None)
def model_defaults(name: str):
    """A model's ``ModelInfo`` without building it or loading weights (preprocessing only)."""
    from effv2nb.model.models import MODEL_NAMES, ModelInfo

    if name not in MODEL_NAMES:
        raise Effv2nbError(f"unknown model '{name}'; choose one of {', '.join(MODEL_NAMES)}", where="--model")
    if name == "tiny":
        from effv2nb.model.tiny import TINY_PRETRAINED_CFG as cfg
    else:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(name).to_dict()
    size = (cfg.get("test_input_size") or cfg["input_size"])[-1]
    return ModelInfo(name=name, weights="none (preprocessing only)", trained=False, input_size=int(size),
                     mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                     interpolation=cfg.get("interpolation", "bilinear"),
                     crop_pct=float(cfg.get("test_crop_pct") or cfg.get("crop_pct", 1.0)),
                     num_classes=int(cfg.get("num_classes", 1000)))
