"""The build YAML's ``dataset.process_ops``, as data: notebook 03, ``config check`` and ``compile``.

One table, ``PROCESS_OPS``: op type -> its parameters, what it means, how it is checked, how the
host runs it and what it says in plain terms. One decoder, ``decode``, turns a YAML list into
``Step``s (defaults filled in), the way timm's ``_decode_block_str`` feeds its builder; everything
else consumes the steps: validation (``check_ops``, run by ``effv2nb.formats.build_checks``), the
calibration pipeline (``host_pipeline``, run by ``effv2nb.compile.calibration``) and the comparison
with the device preprocessing (``plain_terms``, run by ``effv2nb.formats.vdsp.cross_check``).
Adding an op is one row of the table. Reference: ``docs/vendor-files.md``, section "process_ops".

Semantics (the vendor's ops, as this suite implements them): ``DecodeImage`` (``effv2nb.data.images.read_image``:
RGB, EXIF orientation); ``Resize{size: [h, w]}`` squashes to h x w (``size: n`` resizes the shorter
side to n), bilinear unless ``interpolation`` says otherwise; ``CenterCrop{crop_size: [h, w]}``;
``CvtColor{code: COLOR_RGB2BGR|COLOR_BGR2RGB}`` swaps channels; ``Normalize{mean, std, div255}``:
``(x / 255 - mean) / std`` when ``div255`` is true, ``(x - mean) / std`` when false; without
``div255`` it is inferred from the scale of the mean (all <= 1: true); ``ToTensor``: HWC -> CHW (no scaling).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from effv2nb.core import numbers
from effv2nb.core.errors import Effv2nbError, one_of
from effv2nb.core.numbers import MAX_SIDE

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
CVT_CODES = ("COLOR_RGB2BGR", "COLOR_BGR2RGB")
_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


@dataclass(frozen=True)
class Step:
    """One decoded op: its type and its parameters with defaults filled in."""

    type: str
    params: dict = field(default_factory=dict)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _hw(v):
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _pair(rep, v, where, what):
    """[h, w] of positive ints (an int n means [n, n]), at most ``MAX_SIDE`` pixels."""
    vals = [v] if _is_int(v) else (list(v) if isinstance(v, (list, tuple)) and len(v) == 2 else None)
    if vals is None or not all(_is_int(x) and x > 0 for x in vals):
        rep.error(where, f"{what} must be [height, width] of positive integers (or one integer), "
                         f"got {numbers.shown(v)}")
        return None
    if any(x > MAX_SIDE for x in vals):
        rep.error(where, f"{what} {numbers.shown(max(vals))} is over the {MAX_SIDE} pixel limit")
        return None
    return vals * 2 if len(vals) == 1 else vals


def _size_check(key):
    def check(rep, op, w):
        if key not in op:
            rep.error(f"{w}.{key}", "missing; [height, width] of positive integers")
        else:
            _pair(rep, op[key], f"{w}.{key}", key)
    return check


# ---------------------------------------------------------------- checks, one per op
def _check_resize(rep, op, w):
    _size_check("size")(rep, op, w)
    if "interpolation" in op and op["interpolation"] not in INTERPOLATIONS:
        rep.error(f"{w}.interpolation", f"'{op['interpolation']}' is not allowed; {one_of(INTERPOLATIONS)}")


def _check_cvt(rep, op, w):
    if op.get("code") not in CVT_CODES:
        rep.error(f"{w}.code", f"{op.get('code')!r} is not allowed; {one_of(CVT_CODES)}")


def _check_normalize(rep, op, w):
    for k in ("mean", "std"):
        v = op.get(k)
        if not (isinstance(v, list) and len(v) == 3 and all(numbers.is_finite_number(x) for x in v)):
            rep.error(f"{w}.{k}", f"must be a list of 3 numbers (one per channel, finite), got {v!r}")
        elif any(abs(x) > numbers.FLOAT32_MAX for x in v):
            rep.error(f"{w}.{k}", f"{v!r} is too large for float32, the type calibration computes in")
        elif k == "std" and any(x <= 0 for x in v):
            rep.error(f"{w}.std", f"must be positive, got {v!r}")
    if "div255" in op and not isinstance(op["div255"], bool):
        rep.error(f"{w}.div255", f"must be true or false, got {op['div255']!r}")


def _no_check(rep, op, w):
    return None


# ---------------------------------------------------------------- host implementations (calibration)
def resize(img: Image.Image, size, interpolation="bilinear") -> Image.Image:
    resample = _RESAMPLE.get(interpolation or "bilinear", Image.BILINEAR)
    if isinstance(size, int):  # shorter side -> size, keep the aspect ratio
        w, h = img.size
        s = size / min(w, h)
        return img.resize((max(1, round(w * s)), max(1, round(h * s))), resample)
    h, w = _hw(size)
    return img.resize((w, h), resample)


def center_crop(img: Image.Image, crop_size) -> Image.Image:
    ch, cw = _hw(crop_size)
    w, h = img.size
    if cw > w or ch > h:   # pad like torchvision when the crop is larger than the image
        canvas = Image.new("RGB", (max(w, cw), max(h, ch)))
        canvas.paste(img, ((max(w, cw) - w) // 2, (max(h, ch) - h) // 2))
        img, (w, h) = canvas, canvas.size
    left, top = int(round((w - cw) / 2.0)), int(round((h - ch) / 2.0))
    return img.crop((left, top, left + cw, top + ch))


def _host_normalize(p):
    mean = np.asarray(p["mean"], dtype=np.float32)
    std = np.asarray(p["std"], dtype=np.float32)
    scale = np.float32(1 / 255.0 if p["div255"] else 1.0)
    return lambda x, m=mean, s=std, k=scale: (x * k - m) / s


# ---------------------------------------------------------------- plain terms (compared with the vdsp file)
def _terms_resize(p, out):
    s = p["size"]
    out["resize"] = (s, s) if isinstance(s, int) else tuple(s)
    out["resize_shorter_side"] = isinstance(s, int)


def _terms_crop(p, out):
    c = p["crop_size"]
    out["crop"] = (c, c) if isinstance(c, int) else tuple(c)


def _terms_cvt(p, out):
    out["bgr"] = not out["bgr"]


def _terms_normalize(p, out):
    mean, std = list(p["mean"] or []), list(p["std"] or [])
    if not p["div255"]:
        mean, std = [m / 255 for m in mean], [s / 255 for s in std]
    out["mean"], out["std"] = mean, std


def _terms_none(p, out):
    return None


@dataclass(frozen=True)
class OpSpec:
    params: tuple                    # parameter keys the op knows
    meaning: str
    check: Callable                  # (report, op mapping, where) -> None
    needs_image: bool | None         # host step on a PIL image (True), an HWC/CHW array (False); None: no step
    host: Callable | None            # params -> fn(x) -> x
    terms: Callable                  # (params, plain-terms dict) -> None


PROCESS_OPS = {
    "DecodeImage": OpSpec((), "decode the file to RGB (always first)", _no_check, None, None, _terms_none),
    "Resize": OpSpec(("size", "interpolation"), "resize to [h, w] (an int: the shorter side)", _check_resize,
                     True, lambda p: (lambda x: resize(x, p["size"], p["interpolation"])), _terms_resize),
    "CenterCrop": OpSpec(("crop_size",), "centred crop of [h, w]", _size_check("crop_size"),
                         True, lambda p: (lambda x: center_crop(x, p["crop_size"])), _terms_crop),
    "CvtColor": OpSpec(("code",), "swap the R and B channels", _check_cvt,
                       False, lambda p: (lambda x: x[..., ::-1]), _terms_cvt),
    "Normalize": OpSpec(("mean", "std", "div255"), "(x / 255 - mean) / std, or (x - mean) / std without div255",
                        _check_normalize, False, _host_normalize, _terms_normalize),
    "ToTensor": OpSpec((), "HWC to CHW, no scaling", _no_check,
                       False, lambda p: (lambda x: np.transpose(x, (2, 0, 1))), _terms_none),
}


def decode(ops) -> list:
    """The YAML list as ``Step``s with defaults filled in (``Normalize.div255`` from the mean's scale)."""
    steps = []
    for op in ops or []:
        t = op.get("type")
        if t not in PROCESS_OPS:
            raise Effv2nbError(f"unknown process op '{t}'", where="dataset.process_ops")
        p = {k: op.get(k) for k in PROCESS_OPS[t].params}
        if t == "Normalize" and p["div255"] is None:     # inferred from the mean's scale
            mean = p["mean"] if isinstance(p["mean"], (list, tuple)) else []
            p["div255"] = bool(np.all(np.asarray(mean, dtype=np.float32) <= 1.0))
        steps.append(Step(t, p))
    return steps


def check_ops(rep, ops, where):
    """Validate ``process_ops`` into ``rep`` (``.error(where, msg)`` / ``.warn(where, msg)``)."""
    if not isinstance(ops, list):
        rep.error(where, "must be a list of ops like '- type: Resize'")
        return
    if not ops:
        rep.error(where, "is empty; at least DecodeImage ... ToTensor is needed")
        return
    for i, op in enumerate(ops):
        w = f"{where}[{i}]"
        if not isinstance(op, dict) or "type" not in op:
            rep.error(w, f"each op must be a mapping with a 'type'; {one_of(PROCESS_OPS)}")
            continue
        t = op["type"]
        if not isinstance(t, str) or t not in PROCESS_OPS:
            near = difflib.get_close_matches(str(t), list(PROCESS_OPS), n=1, cutoff=0.6)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            rep.error(f"{w}.type", f"unknown op '{t}'{hint}; {one_of(PROCESS_OPS)}")
            continue
        spec = PROCESS_OPS[t]
        for k in op:
            if k != "type" and k not in spec.params:
                near = difflib.get_close_matches(str(k), list(spec.params), n=1, cutoff=0.6)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                rep.warn(f"{w}.{k}", f"unknown {t} parameter, kept but not used{hint}")
        spec.check(rep, op, w)
    types = [op.get("type") for op in ops if isinstance(op, dict)]
    if types and types[0] != "DecodeImage":
        rep.warn(f"{where}[0]", "the first op is usually DecodeImage (images are decoded first anyway)")
    if "Normalize" not in types:
        rep.warn(where, "no Normalize op: calibration images reach the model as 0..255 values")


def host_steps(ops) -> list:
    """``[(needs a PIL image?, fn)]``: the host implementation of each decoded step."""
    return [(PROCESS_OPS[s.type].needs_image, PROCESS_OPS[s.type].host(s.params))
            for s in decode(ops) if PROCESS_OPS[s.type].host is not None]


def plain_terms(ops, out: dict) -> dict:
    """Fill ``out`` (resize, crop, mean/std on the 0-1 scale, colour order) from the decoded steps."""
    for s in decode(ops):
        PROCESS_OPS[s.type].terms(s.params, out)
    return out
