"""Notebooks 04-05, ``infer``, ``image2npz``, ``bench``: the vdsp fusion op on the host.

Preprocessing on the host: the vendor's vdsp fusion op, and timm's own transform.

``apply(vdsp, image)`` does what the device's ``FUSION_OP_RGB_RESIZE_CVTCOLOR[_CROP]_NORM_TENSOR``
does, driven by the parsed vdsp JSON (the whole file ``{"OpType", "OpConfig"}`` or just its
``OpConfig``):

1. resize the decoded RGB image to ``ResizeWidth x ResizeHeight``
   (``BILINEAR_CV``: OpenCV's bilinear, half-pixel centres, no antialiasing, computed in
   float32 without rounding back to uint8; ``BILINEAR_PILLOW``: Pillow's bilinear on uint8, which
   antialiases when shrinking);
2. crop ``OimageWidth x OimageHeight`` at (``CropX``, ``CropY``);
3. colour conversion (``NO_CHANGE``, ``RGB2BGR``, ``BGR2RGB``: the last two swap channels 0 and 2);
4. normalise (``NormaType``) and emit planar CHW float32.

Missing keys, as real files have them: output size from ``model_size`` (the model's input);
resize size = output size; crop offsets absent = centred crop (0, 0 when sizes are equal).

``timm_transform(model, size)`` is timm's evaluation transform for the loaded weights (from the model's
pretrained config); the two are *not* the same function (bicubic + crop_pct vs bilinear squash).
``effv2nb.device.preprocess_plot`` draws them side by side.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from effv2nb.core import opencv
from effv2nb.core.errors import Effv2nbError
from effv2nb.formats.vdsp import NORMAS, resolve



def resize_bilinear_cv(arr: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """``BILINEAR_CV``: OpenCV's ``cv2.resize(INTER_LINEAR)`` on the image as float32, HWC in and out.

    OpenCV is what the vdsp op names, so it does the work (8x faster than numpy on a 500x375 photo
    to 288x288). It is given float32, not uint8: on uint8 OpenCV rounds each output to an integer
    (up to 0.76 off), while the device's op keeps the fraction. ``resize_bilinear_reference`` is the
    same arithmetic written out; the two agree within 1e-4 on photos (``tests/test_preprocess.py``).
    """
    cv2 = opencv.cv2()
    out = cv2.resize(np.asarray(arr, dtype=np.float32), (int(out_w), int(out_h)), interpolation=cv2.INTER_LINEAR)
    return out[:, :, None] if out.ndim == 2 else out


def resize_bilinear_reference(arr: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """``BILINEAR_CV`` written out in numpy, the reference ``tests/test_preprocess.py`` holds OpenCV to:
    half-pixel centres, no antialiasing, float32 out.

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
    norma = NORMAS[op.norma_type]
    if norma.div255:
        chw *= np.float32(1.0 / 255.0)
    if norma.mean_std:
        chw -= np.asarray(op.mean, dtype=np.float32)[:, None, None]
        chw /= np.asarray(op.std, dtype=np.float32)[:, None, None]
    return chw


def apply_batch(vdsp, images, model_size=None) -> np.ndarray:
    op = resolve(vdsp, model_size)
    return np.stack([apply(op, im) for im in images])


def timm_transform(model, size: int | None = None):
    """timm's evaluation transform for ``model``'s pretrained config: PIL RGB -> CHW float32 numpy.

    At the config's test size, as timm's own ``validate.py`` evaluates (rw_t: 288 px, bicubic,
    crop_pct 1.0), or at ``size`` (the same resize + centre crop, to ``size`` x ``size``).
    ``model``: a loaded model, or a timm model name (its pretrained config, no weights loaded).
    ``run.transform`` is the torchvision transform itself (PIL -> tensor), ``run.config`` its settings.
    """
    import timm.data

    if isinstance(model, str):
        import timm.models

        pcfg = timm.models.get_pretrained_cfg(model)
        if pcfg is None:
            raise Effv2nbError(f"timm has no pretrained config for '{model}'")
        cfg = timm.data.resolve_data_config(pretrained_cfg=pcfg.to_dict(), use_test_size=True)
    else:
        cfg = timm.data.resolve_data_config(model=model, use_test_size=True)
    if size is not None:
        cfg = dict(cfg, input_size=(3, int(size), int(size)))
    tf = timm.data.create_transform(**cfg, is_training=False)

    def run(image) -> np.ndarray:
        pil = image if isinstance(image, Image.Image) else Image.fromarray(to_hwc_uint8(image))
        return tf(pil).numpy().astype(np.float32, copy=False)

    run.config = cfg
    run.transform = tf
    return run
