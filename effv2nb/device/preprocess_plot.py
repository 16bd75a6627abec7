"""Notebook 04 (section 1), ``infer``'s preprocessing: the vendor's squash and timm's crop, side by side.

The same photo through the vdsp fusion op (``effv2nb.device.preprocess.apply``) and through timm's
evaluation transform (``preprocess.timm_transform``), drawn as pictures.

Both give normalised CHW float32 tensors; to be looked at, each is de-normalised back to pixels
(0-255) with its *own* mean/std (the vdsp file's float16-rounded values, timm's config values), so
the difference map shows what the model is given, in the units of the photo:

- ``vdsp_pixels(op, chw)`` / ``timm_pixels(config, chw)``: a tensor back to HWC float pixels;
- ``compare(image, op, tf)``: both tensors, both pixel images, the per-pixel mean |difference| over
  the three channels and its mean, and where timm's crop lies in the photo;
- ``plot(image, op, tf, title)``: four panels (the photo with timm's crop marked, the vendor's
  squash, timm's crop, the |difference| map with its scale); returns the figure, shows nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from effv2nb.device import preprocess
from effv2nb.formats.vdsp import NORMAS, resolve


def vdsp_pixels(op, chw: np.ndarray) -> np.ndarray:
    """The inverse of the fusion op's normalisation: CHW tensor -> HWC float32 pixels (0-255 scale).

    Colour conversion is undone too (``RGB2BGR``/``BGR2RGB`` swap channels back), so the result is RGB.
    """
    op = resolve(op)
    norma = NORMAS[op.norma_type]
    x = np.asarray(chw, dtype=np.float64)
    if norma.mean_std:
        x = x * np.asarray(op.std)[:, None, None] + np.asarray(op.mean)[:, None, None]
    if norma.div255:
        x = x * 255.0
    hwc = x.transpose(1, 2, 0)
    if op.color_code in ("RGB2BGR", "BGR2RGB"):
        hwc = hwc[:, :, ::-1]
    return np.ascontiguousarray(hwc, dtype=np.float32)


def timm_pixels(config: dict, chw: np.ndarray) -> np.ndarray:
    """timm's ``(x / 255 - mean) / std`` undone: CHW tensor -> HWC float32 pixels (0-255 scale)."""
    mean = np.asarray(config["mean"], dtype=np.float64)[:, None, None]
    std = np.asarray(config["std"], dtype=np.float64)[:, None, None]
    x = (np.asarray(chw, dtype=np.float64) * std + mean) * 255.0
    return np.ascontiguousarray(x.transpose(1, 2, 0), dtype=np.float32)


def timm_crop_box(config: dict, width: int, height: int) -> tuple:
    """Where timm's evaluation crop lies in a ``width`` x ``height`` photo: ``(x0, y0, side_w, side_h)``.

    timm resizes the shorter side to ``floor(size / crop_pct)`` and crops ``size`` x ``size`` at the
    centre; in the photo's own pixels that is a centred rectangle of the crop's aspect.
    """
    out_h, out_w = (int(v) for v in config["input_size"][-2:])
    crop_pct = float(config.get("crop_pct") or 1.0)
    scale = math.floor(min(out_h, out_w) / crop_pct)
    f = min(width, height) / scale              # photo pixels per resized pixel
    bw, bh = out_w * f, out_h * f
    return ((width - bw) / 2.0, (height - bh) / 2.0, bw, bh)


@dataclass
class Comparison:
    """One photo through both preprocessings."""

    vdsp: np.ndarray            # CHW tensor, as the model gets it
    timm: np.ndarray
    vdsp_px: np.ndarray         # HWC pixels (0-255, float)
    timm_px: np.ndarray
    diff: np.ndarray            # HW: mean over channels of |vdsp_px - timm_px|
    box: tuple                  # timm's crop in the photo: (x0, y0, w, h)
    photo_size: tuple           # (width, height)

    @property
    def mean_abs(self) -> float:
        """Mean |difference| in pixel levels (0-255)."""
        return float(self.diff.mean())

    def line(self) -> str:
        w, h = self.photo_size
        return (f"{w}x{h} photo -> {self.vdsp.shape[2]}x{self.vdsp.shape[1]}: mean |difference| "
                f"{self.mean_abs:.1f} of 255 pixel levels, max {float(self.diff.max()):.0f}")


def compare(image, op, tf) -> Comparison:
    """``image`` (PIL or HWC uint8) through the fusion op ``op`` and timm's transform ``tf``."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(preprocess.to_hwc_uint8(image))
    pil = pil.convert("RGB")
    a = preprocess.apply(op, pil)
    b = tf(pil)
    if a.shape != b.shape:
        raise ValueError(f"the two preprocessings give different shapes: vdsp {a.shape}, timm {b.shape}")
    pa, pb = vdsp_pixels(op, a), timm_pixels(tf.config, b)
    diff = np.abs(pa - pb).mean(axis=2)
    return Comparison(a, b, pa, pb, diff, timm_crop_box(tf.config, *pil.size), pil.size)


def _show(ax, px):
    ax.imshow(np.clip(np.rint(px), 0, 255).astype(np.uint8))
    ax.set_xticks([])
    ax.set_yticks([])


def plot(image, op, tf, title: str = "", figsize=(10.5, 3.0)):
    """Four panels: the photo with timm's crop, the vendor's squash, timm's crop, the |difference| map.

    Returns ``(figure, comparison)``; the figure is not shown (the caller's ``plt.show()`` does).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    c = compare(image, op, tf)
    op = resolve(op)
    pil = image if isinstance(image, Image.Image) else Image.fromarray(preprocess.to_hwc_uint8(image))
    fig, axes = plt.subplots(1, 4, figsize=figsize, gridspec_kw={"width_ratios": [1.15, 1, 1, 1.2]})
    _show(axes[0], np.asarray(pil.convert("RGB"), dtype=np.float32))
    x0, y0, bw, bh = c.box
    axes[0].add_patch(Rectangle((x0, y0), bw, bh, fill=False, ec="#ffcc00", lw=1.5, ls="--"))
    axes[0].set_title(f"photo {c.photo_size[0]}x{c.photo_size[1]}\n(dashed: timm's crop)", fontsize=9)
    _show(axes[1], c.vdsp_px)
    axes[1].set_title(f"vendor vdsp: {op.resize_type}\nsquash to {op.resize_w}x{op.resize_h}", fontsize=9)
    _show(axes[2], c.timm_px)
    cfg = tf.config
    axes[2].set_title(f"timm: {cfg['interpolation']}, crop_pct {cfg['crop_pct']}\n"
                      f"crop to {cfg['input_size'][2]}x{cfg['input_size'][1]}", fontsize=9)
    im = axes[3].imshow(c.diff, cmap="magma", vmin=0, vmax=max(float(c.diff.max()), 1.0))
    axes[3].set_xticks([])
    axes[3].set_yticks([])
    axes[3].set_title(f"|difference|, mean {c.mean_abs:.1f}\n(pixel levels of 255)", fontsize=9)
    fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig, c
