"""The vendor's device preprocessing file (``*-vdsp_params.json``): load, validate, generate, cross-check.

Format: ``{"OpType": ..., "OpConfig": {...}}``. Keys may be absent; the validator checks what is
there plus what the ``NormaType`` needs. It is the one validator for a vdsp file: ``config check``
runs it, and so does every command that loads one (``load_vdsp``), and it includes the checks the
host preprocessing (``effv2nb.preprocess.resolve``) makes, so a file ``config check`` passes is not
refused later for the same key, nor the other way round. Numbers must be finite (``NaN``,
``Infinity`` and ``1e400`` are numbers to Python's ``json``, not here); sizes are at most
``MAX_SIDE`` pixels; Mean/Std must fit float16, the type the device keeps them in (a Std that
rounds to 0 there is refused). ``generate_vdsp`` writes one from a
model's preprocessing the way the vendor does for these models: squash-resize to the input size,
no crop offset, mean/std rounded to float16. ``cross_check`` lists where a build config and a
vdsp file disagree (input size, mean/std, crop / resize, colour order).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from . import numbers
from .atomic import write_text
from .errors import Effv2nbError
from .preprocess import MAX_SIDE

OP_TYPES = ("FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR", "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR")
CROP_OP, NOCROP_OP = OP_TYPES
NORMA_TYPES = ("DIV255_MINUSMEAN_DIVSTD", "MINUSMEAN_DIVSTD", "EQUAL", "DIV255")
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
    if norma in ("DIV255_MINUSMEAN_DIVSTD", "MINUSMEAN_DIVSTD"):
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
            elif norma == "DIV255_MINUSMEAN_DIVSTD" and any(abs(x) > 1.5 for x in v):
                err(f"OpConfig.{k}", f"DIV255_MINUSMEAN_DIVSTD takes values on the 0-1 scale, got {v!r} "
                    "(0-255 values go with MINUSMEAN_DIVSTD)")
            elif norma == "MINUSMEAN_DIVSTD" and k == "Mean" and all(abs(x) <= 1.0 for x in v) and any(v):
                warnings.append(Effv2nbError(
                    "MINUSMEAN_DIVSTD takes 0-255 values, these look like 0-1 (DIV255_MINUSMEAN_DIVSTD?)",
                    p, "OpConfig.Mean").one_line())
    if op_type == NOCROP_OP and any(k in cfg for k in CROP_KEYS):
        warnings.append(Effv2nbError(f"{NOCROP_OP} has no crop; CropX/CropY ignored", p, "OpConfig").one_line())
    # a resize size without its output size: the crop then depends on the model, which the file cannot know
    if not errors:
        from .preprocess import unpaired_resize

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
        from .preprocess import resolve

        try:
            resolve(data)
        except Effv2nbError as exc:
            err(exc.where, exc.message)
    return errors, warnings


def read_json(path):
    from .textio import read_text

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
    from .config import raise_problems

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
    from .config import raise_problems

    errors, _ = validate_vdsp(d, path)
    if errors:
        raise_problems(errors)
    return write_text(path, dumps_vdsp(d), backup=backup)


def generate_vdsp(model_or_info, size=None, resize_type: str = "BILINEAR_CV") -> dict:
    """A vdsp_params dict for a model (``nn.Module`` from ``models.load``, a ``ModelInfo``, or a name).

    Same layout as the vendor's EfficientNetV2 files: squash-resize to ``size`` x ``size``, crop at
    (0, 0) of the same size, ``DIV255_MINUSMEAN_DIVSTD`` with mean/std rounded to float16.
    """
    from .models import ModelInfo

    info = model_or_info
    if isinstance(info, str):
        info = model_defaults(info)
    elif not isinstance(info, ModelInfo):
        from .models import info as model_info

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
    from .models import MODEL_NAMES, ModelInfo

    if name not in MODEL_NAMES:
        raise Effv2nbError(f"unknown model '{name}'; choose one of {', '.join(MODEL_NAMES)}", where="--model")
    if name == "tiny":
        from .tiny import TINY_PRETRAINED_CFG as cfg
    else:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(name).to_dict()
    size = (cfg.get("test_input_size") or cfg["input_size"])[-1]
    return ModelInfo(name=name, weights="none (preprocessing only)", trained=False, input_size=int(size),
                     mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                     interpolation=cfg.get("interpolation", "bilinear"),
                     crop_pct=float(cfg.get("test_crop_pct") or cfg.get("crop_pct", 1.0)),
                     num_classes=int(cfg.get("num_classes", 1000)))


def preprocessing(d: dict) -> dict:
    """A vdsp dict in plain terms: output size, resize, crop box, 0-1 mean/std, colour order."""
    c = d.get("OpConfig", {})
    norma = c.get("NormaType")
    mean, std = c.get("Mean"), c.get("Std")
    if norma == "MINUSMEAN_DIVSTD" and mean and std:
        mean, std = [m / 255 for m in mean], [s / 255 for s in std]
    elif norma == "EQUAL":
        mean, std = [0.0] * 3, [1 / 255] * 3
    elif norma == "DIV255":
        mean, std = [0.0] * 3, [1.0] * 3
    crop = d.get("OpType") == CROP_OP
    return {"out": (c.get("OimageHeight"), c.get("OimageWidth")),
            "resize": (c.get("ResizeHeight"), c.get("ResizeWidth")),
            "crop_xy": (c.get("CropX", 0), c.get("CropY", 0)) if crop else (0, 0),
            "mean": mean, "std": std, "bgr": c.get("ColorCvtCode") in ("RGB2BGR", "BGR2RGB")}


def build_preprocessing(cfg) -> dict:
    """The same plain terms from a build config's ``frontend.shape`` and ``dataset.process_ops``."""
    shape = cfg.input_shape
    out = {"out": (shape[2], shape[3]), "resize": None, "crop": None, "mean": None, "std": None, "bgr": False}
    for op in cfg.dataset.process_ops or []:
        t = op.get("type")
        if t == "Resize":
            s = op.get("size")
            out["resize"] = (s, s) if isinstance(s, int) else tuple(s)
            out["resize_shorter_side"] = isinstance(s, int)
        elif t == "CenterCrop":
            c = op.get("crop_size")
            out["crop"] = (c, c) if isinstance(c, int) else tuple(c)
        elif t == "CvtColor":
            out["bgr"] = not out["bgr"]
        elif t == "Normalize":
            mean, std = list(op.get("mean", [])), list(op.get("std", []))
            div255 = op.get("div255", all(m <= 1.0 for m in mean))
            if not div255:
                mean, std = [m / 255 for m in mean], [s / 255 for s in std]
            out["mean"], out["std"] = mean, std
    return out


def cross_check(build_cfg, vdsp: dict, tol: float = 2e-3) -> list:
    """Where a build config (``BuildConfig``) and a vdsp dict disagree; ``[]`` when they agree.

    Each entry is a one-line message naming both keys. Mean/std compare on the 0-1 scale within
    ``tol`` (float16 rounding is ~5e-4).
    """
    b, v = build_preprocessing(build_cfg), preprocessing(vdsp)
    out = []
    if None not in v["out"] and tuple(v["out"]) != tuple(b["out"]):
        out.append(f"input size: frontend.shape says {b['out'][0]}x{b['out'][1]}, "
                   f"OpConfig.OimageHeight/OimageWidth say {v['out'][0]}x{v['out'][1]}")
    for k in ("mean", "std"):
        if b[k] is not None and v[k] is not None and (
                len(b[k]) != len(v[k]) or any(abs(x - y) > tol for x, y in zip(b[k], v[k]))):
            out.append(f"{k}: dataset.process_ops Normalize {k} (0-1 scale) {[round(x, 4) for x in b[k]]} vs "
                       f"OpConfig.{k.capitalize()} {[round(x, 4) for x in v[k]]}")
    if b["bgr"] != v["bgr"]:
        out.append(f"colour order: process_ops {'swap' if b['bgr'] else 'keep'} RGB, "
                   f"OpConfig.ColorCvtCode {vdsp.get('OpConfig', {}).get('ColorCvtCode')}")
    if b["resize"] is not None and None not in v["resize"] and not b.get("resize_shorter_side"):
        if tuple(b["resize"]) != tuple(v["resize"]):
            out.append(f"resize: Resize size {list(b['resize'])} vs OpConfig.ResizeHeight/ResizeWidth "
                       f"{list(v['resize'])}")
    if None not in v["resize"] and None not in v["out"]:
        vcrop = tuple(v["out"]) != tuple(v["resize"])
        bcrop = b["crop"] is not None and b["resize"] is not None and tuple(b["crop"]) != tuple(b["resize"])
        if bcrop != vcrop or (b["crop"] and tuple(b["crop"]) != tuple(v["out"])):
            out.append(f"crop: process_ops CenterCrop {list(b['crop']) if b['crop'] else None} after Resize "
                       f"{list(b['resize']) if b['resize'] else None}, vdsp crops {v['out'][0]}x{v['out'][1]} "
                       f"at (CropX, CropY) = {v['crop_xy']} from {v['resize'][0]}x{v['resize'][1]}")
        elif vcrop:
            rh, rw = v["resize"]
            oh, ow = v["out"]
            want = ((rw - ow) // 2, (rh - oh) // 2)
            if tuple(v["crop_xy"]) != want and abs(v["crop_xy"][0] - want[0]) > 1:
                out.append(f"crop position: CenterCrop is centred, OpConfig.CropX/CropY {v['crop_xy']} "
                           f"(centred would be {want})")
    return out
