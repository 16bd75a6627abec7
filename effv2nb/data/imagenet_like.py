"""Notebook 04's "Scaling out", ``benchmarks/imagenet_scale.py``, the tests: folders that look like ImageNet.

``make_folder(root, n)`` writes ``n`` JPEGs laid out as ImageNet's validation set is after the usual
re-sort: ``root/<synset>/ILSVRC2012_val_<8 digits>.JPEG``, the synsets timm's ImageNet info lists
(in its class order, round-robin, so ``n <= 1000`` gives one image per class for the first ``n``
classes). Sizes are drawn from ImageNet's common ones (500x375 most often, also 500x333, 375x500,
500x500, 640x480, 800x600...), and the pixels are seeded 1/f ("pink") noise in colour: natural
photos have that power spectrum, so a file comes out at a photo's size (~100-200 KB at JPEG
quality 90) and costs what a photo costs to decode — a flat colour or a smooth gradient would
compress to a few KB and decode several times faster. Deterministic: the same ``seed`` and ``n``
give the same bytes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from effv2nb.core import atomic
from effv2nb.core.errors import Effv2nbError

# (width, height) and how often each appears (ImageNet's validation set is mostly 500 px on the long side)
SIZES = ((500, 375), (500, 333), (375, 500), (500, 500), (500, 334), (333, 500), (640, 480), (800, 600))
WEIGHTS = (0.46, 0.16, 0.10, 0.06, 0.06, 0.06, 0.05, 0.05)
QUALITY = 90


def file_name(index: int) -> str:
    """``ILSVRC2012_val_00000001.JPEG`` for index 0, as ImageNet numbers its validation images."""
    return f"ILSVRC2012_val_{index + 1:08d}.JPEG"


def pink_noise_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An HxWx3 uint8 picture with a 1/f amplitude spectrum (as natural images have), per channel
    correlated so it has colour rather than three unrelated greys."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = 1.0 / f ** 1.1
    amp[0, 0] = 0.0
    shared = rng.normal(size=(height, fx.shape[1])) + 1j * rng.normal(size=(height, fx.shape[1]))
    chans = []
    for _ in range(3):
        own = rng.normal(size=shared.shape) + 1j * rng.normal(size=shared.shape)
        spec = (0.8 * shared + 0.45 * own) * amp
        ch = np.fft.irfft2(spec, s=(height, width))
        chans.append(ch / (ch.std() + 1e-12))
    img = np.stack(chans, -1)
    img = 128.0 + 48.0 * img + rng.normal(0, 8.0, img.shape)     # a little sensor grain
    return np.clip(img, 0, 255).astype(np.uint8)


def make_folder(root, n: int, seed: int = 0, classes: int | None = None, progress: bool = False) -> Path:
    """Write ``n`` ImageNet-like JPEGs under ``root`` (see the module docstring); returns ``root``.

    ``classes``: how many synset folders to use (default ``min(n, 1000)``); image ``i`` goes to class
    ``i % classes``. Files already there with the right name are kept (an interrupted call resumes).
    """
    from effv2nb.data.labels import imagenet

    n = int(n)
    if n < 1:
        raise Effv2nbError("n must be at least 1", where="-n")
    synsets = imagenet().synsets
    classes = min(int(classes or n), len(synsets), n)
    root = Path(root)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="ImageNet-like JPEGs", unit="img")
    sizes = np.asarray(SIZES)
    for i in range(n):
        folder = root / synsets[i % classes]
        target = folder / file_name(i)
        if not target.is_file():
            rng = np.random.default_rng([seed, i])
            w, h = sizes[rng.choice(len(SIZES), p=WEIGHTS)]
            atomic.make_folder(folder)
            with atomic.atomic_path(target) as tmp:
                Image.fromarray(pink_noise_image(rng, int(w), int(h))).save(tmp, format="JPEG", quality=QUALITY)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return root
