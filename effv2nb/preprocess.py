"""Preprocessing on the host: the vendor's vdsp fusion op, and timm's own transform.

``apply(vdsp, image)`` does what the device's ``FUSION_OP_RGB_RESIZE_CVTCOLOR[_CROP]_NORM_TENSOR``
does, driven by the parsed vdsp JSON (the whole file ``{"OpType", "OpConfig"}`` or just its
``OpConfig``):

1. resize the decoded RGB image to ``ResizeWidth x ResizeHeight``
   (``BILINEAR_CV``: OpenCV-style bilinear, half-pixel centres, no antialiasing, computed in
   float32 without rounding back to uint8; ``BILINEAR_PILLOW``: Pillow's bilinear on uint8, which
   antialiases when shrinking);
2. crop ``OimageWidth x OimageHeight`` at (``CropX``, ``CropY``);
3. colour conversion (``NO_CHANGE``, ``RGB2BGR``, ``BGR2RGB``: the last two swap channels 0 and 2);
4. normalise (``NormaType``) and emit planar CHW float32.

Missing keys, as real files have them: output size from ``model_size`` (the model's input);
resize size = output size; crop offsets absent = centred crop (0, 0 when sizes are equal).

``timm_transform(model)`` is timm's evaluation transform for the loaded weights (from the model's
pretrained config); the two are *not* the same function (bicubic + crop_pct vs bilinear squash).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import Effv2nbError

NORMA_TYPES = ("DIV255_MINUSMEAN_DIVSTD", "MINUSMEAN_DIVSTD", "EQUAL", "DIV255")
COLOR_CODES = ("NO_CHANGE", "RGB2BGR", "BGR2RGB")
RESIZE_TYPES = ("BILINEAR_CV", "BILINEAR_PILLOW")
MAX_SIDE = 16384   # no device resizes beyond this; larger sizes are a typo (and would exhaust memory)


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


def load_vdsp(path) -> dict:
    """Read and validate a vdsp JSON (``effv2nb.vdsp.load_vdsp``)."""
    from .vdsp import load_vdsp as _load

    return _load(path)


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
    if color not in COLOR_CODES:
        raise Effv2nbError(f"unknown ColorCvtCode {color!r}; one of {', '.join(COLOR_CODES)}",
                           where="OpConfig.ColorCvtCode")
    rtype = cfg.get("ResizeType", "BILINEAR_CV")
    if rtype not in RESIZE_TYPES:
        raise Effv2nbError(f"unknown ResizeType {rtype!r}; one of {', '.join(RESIZE_TYPES)}",
                           where="OpConfig.ResizeType")
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if norma in ("DIV255_MINUSMEAN_DIVSTD", "MINUSMEAN_DIVSTD"):
        for key in ("Mean", "Std"):
            v = cfg.get(key)
            if not isinstance(v, (list, tuple)) or len(v) != 3 or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
                raise Effv2nbError(f"NormaType {norma} needs '{key}' as 3 numbers", where=f"OpConfig.{key}")
        mean, std = tuple(float(x) for x in cfg["Mean"]), tuple(float(x) for x in cfg["Std"])
        if any(s == 0 for s in std):
            raise Effv2nbError("Std must not contain 0", where="OpConfig.Std")
    return FusionOp(resize_w, resize_h, out_w, out_h, crop_x, crop_y, norma, color, rtype, mean, std)


def resize_bilinear_cv(arr: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """OpenCV-style bilinear resize of an HWC image: half-pixel centres, no antialiasing, float32 out.

    Source coordinate of output pixel ``d``: ``(d + 0.5) * in / out - 0.5``, clamped at 0;
    the neighbour beyond the last row/column is the edge itself (replicate border).
    """
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    in_h, in_w = a.shape[:2]

    def axis(n_in, n_out):
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        src = np.maximum(src, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w1 = (src - i0).astype(np.float32)
        return i0, i1, w1

    y0, y1, wy = axis(in_h, out_h)
    x0, x1, wx = axis(in_w, out_w)
    rows = a[y0] * (1.0 - wy)[:, None, None] + a[y1] * wy[:, None, None]
    out = rows[:, x0] * (1.0 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
    return out.astype(np.float32, copy=False)


def to_hwc_uint8(image) -> np.ndarray:
    """A decoded RGB ``PIL.Image`` or an HWC uint8 array, as an HWC uint8 array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise Effv2nbError(f"expected an RGB image as HxWx3, got shape {a.shape}")
    return a


def apply(vdsp, image, model_size=None) -> np.ndarray:
    """The vdsp fusion op on one decoded RGB image (PIL or HWC uint8): planar CHW float32."""
    op = resolve(vdsp, model_size)
    if op.resize_type == "BILINEAR_PILLOW":
        pil = image if isinstance(image, Image.Image) else Image.fromarray(to_hwc_uint8(image))
        if pil.size != (op.resize_w, op.resize_h):
            pil = pil.convert("RGB").resize((op.resize_w, op.resize_h), Image.Resampling.BILINEAR)
        arr = np.asarray(pil.convert("RGB"), dtype=np.float32)
    else:
        arr = to_hwc_uint8(image)
        if arr.shape[:2] == (op.resize_h, op.resize_w):
            arr = arr.astype(np.float32)
        else:
            arr = resize_bilinear_cv(arr, op.resize_w, op.resize_h)
    arr = arr[op.crop_y:op.crop_y + op.out_h, op.crop_x:op.crop_x + op.out_w]
    if op.color_code in ("RGB2BGR", "BGR2RGB"):
        arr = arr[:, :, ::-1]
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)
    if op.norma_type in ("DIV255_MINUSMEAN_DIVSTD", "DIV255"):
        chw *= np.float32(1.0 / 255.0)
    if op.norma_type in ("DIV255_MINUSMEAN_DIVSTD", "MINUSMEAN_DIVSTD"):
        chw -= np.asarray(op.mean, dtype=np.float32)[:, None, None]
        chw /= np.asarray(op.std, dtype=np.float32)[:, None, None]
    return chw


def apply_batch(vdsp, images, model_size=None) -> np.ndarray:
    op = resolve(vdsp, model_size)
    return np.stack([apply(op, im) for im in images])


def timm_transform(model):
    """timm's evaluation transform for ``model``'s pretrained config: PIL RGB -> CHW float32 numpy.

    At the config's test size, as timm's own ``validate.py`` evaluates (rw_t: 288 px, bicubic,
    crop_pct 1.0). ``run.transform`` is the torchvision transform itself (PIL -> tensor).
    """
    import timm.data

    cfg = timm.data.resolve_data_config(model=model, use_test_size=True)
    tf = timm.data.create_transform(**cfg, is_training=False)

    def run(image) -> np.ndarray:
        pil = image if isinstance(image, Image.Image) else Image.fromarray(to_hwc_uint8(image))
        return tf(pil).numpy().astype(np.float32, copy=False)

    run.config = cfg
    run.transform = tf
    return run


def vdsp_for_model(model, size=None) -> dict:
    """A vdsp dict for ``model`` (like the vendor's rw_* files: squash-resize, bilinear, float16 mean/std)."""
    from .vdsp import generate_vdsp

    return generate_vdsp(model, size)
