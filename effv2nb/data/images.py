"""Every notebook and command that decodes an image (notebooks 00, 03-05; ``infer``, ``image2npz``, ``compile``).

Decode user images safely into RGB: size caps, decompression-bomb guard, EXIF orientation.

Accepted: anything Pillow reads — grayscale, palette/RGBA with transparency (composited on
white), CMYK, 16-bit. Refused with an ``Effv2nbError`` naming the file: non-images, empty or
truncated files, files over ``MAX_FILE_BYTES``, images over ``MAX_PIXELS``.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from effv2nb.core import opencv
from effv2nb.core.errors import Effv2nbError

MAX_FILE_BYTES = 20 * 1024 * 1024   # upload / file size cap
MAX_PIXELS = 64 * 1024 * 1024       # 64 Mpx: beyond this we refuse before decoding
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

# Keep Pillow's own guard on (never set it to None); ours is stricter and checked first.
if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 0
        scale = 255.0 / (65535.0 if hi > 255 else max(hi, 255.0))
        img = Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        img = Image.fromarray(arr.astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB") if img.mode != "RGB" else img


def decode_image(data: bytes, name: str = "<upload>") -> Image.Image:
    """Decode bytes to an RGB ``PIL.Image`` (EXIF orientation applied) or raise ``Effv2nbError``."""
    if len(data) == 0:
        raise Effv2nbError("empty file, not an image", name)
    if len(data) > MAX_FILE_BYTES:
        raise Effv2nbError(
            f"file is {len(data) / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB cap", name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise Effv2nbError(
                    f"image is {w}x{h} = {w * h / 1e6:.0f} Mpx, over the {MAX_PIXELS / 1e6:.0f} Mpx limit "
                    "(decompression-bomb guard)", name)
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except Effv2nbError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Effv2nbError(f"refused by the decompression-bomb guard ({exc})", name) from None
    except UnidentifiedImageError:
        raise Effv2nbError("not an image Pillow can read", name) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Effv2nbError(f"cannot decode image: {exc} (truncated or corrupt?)", name) from None


def read_image(path) -> Image.Image:
    """Read and decode an image file (see ``decode_image``)."""
    path = Path(path)
    return decode_image(_read_bytes(path), str(path))


def read_rgb(path) -> np.ndarray:
    """An image file as HWC uint8 RGB: ``np.asarray(read_image(path))``, faster for plain JPEGs.

    ``infer`` decodes tens of thousands of photos beside the model, so the common case takes OpenCV's
    ``imdecode`` (what the vendor's runstream script reads images with): a complete JPEG (ending in its
    EOI marker) in RGB or grey, within the pixel cap and without an EXIF rotation. Pillow and OpenCV
    both decode with libjpeg-turbo's defaults, so the pixels are the same (``tests/test_images.py``
    checks it on real photos); OpenCV skips Pillow's copy into numpy, about 1 ms of a 500x375 photo's
    2.5 ms. Everything else — other formats and modes, rotations, truncated or corrupt files, the
    decompression-bomb guard's refusals — goes through ``decode_image`` and its messages.
    """
    path = Path(path)
    data = _read_bytes(path)
    fast = _decode_plain_jpeg(data)
    return fast if fast is not None else np.asarray(decode_image(data, str(path)))


def _decode_plain_jpeg(data: bytes):
    if data[:2] != b"\xff\xd8" or data.rstrip(b"\x00\r\n ")[-2:] != b"\xff\xd9":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:            # the header only: size, mode, EXIF
                w, h = img.size
                if img.format != "JPEG" or img.mode not in ("RGB", "L") or w * h > MAX_PIXELS:
                    return None
                if img.getexif().get(0x0112, 1) != 1:              # a rotation: Pillow applies it
                    return None
    except Exception:  # noqa: BLE001 - anything odd goes the slow way, which names the problem
        return None
    cv2 = opencv.cv2()
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None or bgr.shape[:2] != (h, w):
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Effv2nbError(f"file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB cap", path)
        data = path.read_bytes()
    except Effv2nbError:
        raise
    except OSError as exc:
        raise Effv2nbError(f"cannot read file: {exc.strerror or exc}", path) from None
    return data
