"""What a person sees in a screenshot: the pixels of the top-5 chart's bars (issue 13).

``count_bar_pixels(png)`` counts the pixels of a PNG (a path or bytes) that have the bar colour of
``effv2nb.ui.plots.top5_chart`` (``BAR_COLOR``), within ``tol`` per channel. Grey pixels (text, axes, a
grey digit) and other colours do not count. ``png_from_data_url`` decodes an ``<img src="data:image/png;...">``
so a test can compare what the kernel sent with what the browser shows; ``differing_fraction(a, b)`` compares
two PNGs of the same size pixel by pixel (the chart the kernel sent against the one the suite draws).
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from effv2nb.ui.plots import BAR_COLOR

TOLERANCE = 24           # per channel, 0-255: anti-aliased bar edges partly count, grey never does


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def count_bar_pixels(png, colour: str = BAR_COLOR, tol: int = TOLERANCE) -> int:
    """Pixels of ``png`` (path or bytes) within ``tol`` of ``colour`` in every channel (alpha ignored)."""
    rgb = _rgb_array(png)
    near = np.abs(rgb - np.array(_rgb(colour), dtype=np.int16)).max(axis=2) <= tol
    return int(near.sum())


def png_from_data_url(src: str) -> bytes:
    """The PNG bytes of a ``data:image/png;base64,...`` URL (ValueError for anything else)."""
    head, _, body = (src or "").partition(",")
    if not (head.startswith("data:image/png") and head.endswith(";base64")):
        raise ValueError(f"not a base64 PNG data URL: {src[:60]!r}")
    return base64.b64decode(body)


def _rgb_array(png) -> np.ndarray:
    data = Path(png).read_bytes() if isinstance(png, (str, Path)) else bytes(png)
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def differing_fraction(png_a, png_b, tol: int = 32) -> float:
    """Share of pixels that differ by more than ``tol`` in some channel; 1.0 when the sizes differ."""
    a, b = _rgb_array(png_a), _rgb_array(png_b)
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).max(axis=2) > tol).mean())
