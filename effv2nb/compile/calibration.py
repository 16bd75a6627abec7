"""Notebook 03, ``python -m effv2nb compile`` (int8): the calibration images and their preprocessing.

Calibration data for int8 compile: the build YAML's ``dataset`` section, run on the host.

``calibration_files(cfg)``: ``get_data_num`` files under ``dataset.path`` with ``dataset.sampler.suffix``,
the first in sorted order (the vendor's sampler) or spread over it (``dataset.sampler.pick: spread``). ``build_pipeline(process_ops)``: the YAML ``process_ops`` as a
function path -> float32 CHW array. ``calibration_batches(cfg)`` yields float32 NCHW batches;
``CalibrationReader`` serves the same images lazily to ONNX Runtime's calibrators (it supports
``set_range`` so that ``compile.ort_quantize.quantize_int8`` can calibrate chunk by chunk).

``process_ops`` semantics: one table, ``effv2nb.formats.process_ops`` (and ``docs/vendor-files.md``, section
"process_ops").

Bad input, as chosen here:

- A calibration image that cannot be decoded (not an image, empty, truncated, a decompression
  bomb) **stops** the compile with an ``Effv2nbError`` naming that file; nothing is written.
  Skipping it would silently calibrate on a different set than the config names (and change the
  quantization); remove or fix the file and compile again. Odd but valid images (grayscale,
  RGBA/palette, CMYK, 16-bit, EXIF-rotated, 1 x 1, 5000 x 10) are calibrated on like any other.
- A folder holding **fewer** images than ``get_data_num``: compile calibrates on the images
  there are and says so in one warning line (the manifest lists the files used). A folder with
  **no** image (with the sampler's suffix) is an error naming ``dataset.path``.
- Symlink loops inside the folder are followed once, never forever (``effv2nb.data.datasets``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from effv2nb.data.datasets import list_images
from effv2nb.core.errors import Effv2nbError
from effv2nb.data.images import read_image
from effv2nb.core.settings import sized
from effv2nb.formats.process_ops import host_steps

QUICK_MAX_IMAGES = 16      # CI-sized cap on get_data_num (EFFV2NB_QUICK=1)
DEFAULT_DATA_NUM = 50


def _as_array(x):
    return np.asarray(x, dtype=np.float32) if isinstance(x, Image.Image) else x


def build_pipeline(process_ops):
    """The YAML ``process_ops`` as ``fn(path) -> float32 array (3, H, W)``."""
    steps = host_steps(process_ops)   # [(needs a PIL image?, function)]: effv2nb.formats.process_ops

    def run(path):
        x = read_image(path)
        for needs_image, step in steps:
            if needs_image and not isinstance(x, Image.Image):
                if x.ndim == 3 and x.shape[0] == 3 and x.shape[-1] != 3:
                    raise Effv2nbError("Resize/CenterCrop after ToTensor is not supported",
                                       where="dataset.process_ops")
                x = Image.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8))
            elif not needs_image:
                x = _as_array(x)
            x = step(x)
        arr = _as_array(x)
        if arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] != 3:   # no ToTensor: still HWC
            arr = np.transpose(arr, (2, 0, 1))
        return np.ascontiguousarray(arr, dtype=np.float32)

    return run


def data_num(cfg) -> int:
    """How many calibration images: ``get_data_num`` (default 50), capped under EFFV2NB_QUICK=1."""
    n = cfg.dataset.sampler.get_data_num or DEFAULT_DATA_NUM
    return int(sized(n, min(n, QUICK_MAX_IMAGES)))


def calibration_files(cfg, limit=None) -> list:
    """The calibration images: ``get_data_num`` of the sorted files with the sampler's suffix, picked
    as ``dataset.sampler.pick`` says (``first``, the vendor's default, or ``spread``: ``effv2nb.data.folds``)."""
    from effv2nb.data.folds import VENDOR_PICK, pick

    folder = cfg.dataset_path
    if folder is None:
        raise Effv2nbError("no calibration folder given", cfg.source, "dataset.path")
    if not folder.is_dir():
        raise Effv2nbError(f"calibration folder not found: {folder}", cfg.source, "dataset.path")
    n = data_num(cfg) if limit is None else int(limit)
    files = pick(list_images(folder, suffix=cfg.dataset.sampler.suffix), n, cfg.dataset.sampler.pick or VENDOR_PICK)
    if not files:
        suffix = cfg.dataset.sampler.suffix
        raise Effv2nbError(f"no images{f' with suffix {suffix}' if suffix else ''} under {folder}",
                           cfg.source, "dataset.path")
    return files


def calibration_batches(cfg, batch_size: int = 8, files=None, progress: bool = False):
    """Yield float32 NCHW batches of the calibration images, ``process_ops`` applied."""
    files = calibration_files(cfg) if files is None else files
    fn = build_pipeline(cfg.dataset.process_ops)
    it = range(0, len(files), batch_size)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="calibration images", unit="batch")
    for start in it:
        yield np.stack([fn(p) for p in files[start:start + batch_size]])


def check_shape(cfg, files) -> None:
    """The first calibration image must come out at the model's input shape."""
    x = build_pipeline(cfg.dataset.process_ops)(files[0])
    want = tuple(cfg.input_shape[1:])
    if tuple(x.shape) != want:
        raise Effv2nbError(
            f"process_ops give images of shape {tuple(x.shape)}, the model input is {want} "
            "(check Resize/CenterCrop against frontend.shape)", cfg.source, "dataset.process_ops")


class CalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over image files, one image per ``get_next``.

    Images are read lazily (never all in memory). ``set_range(start, end)`` restricts the reader
    to a slice, which ORT's ``CalibStridedMinMax`` option uses to calibrate chunk by chunk.
    """

    def __init__(self, files, process_ops=None, input_name="input", fn=None, progress=False):
        self.files = [Path(f) for f in files]
        self.input_name = input_name
        self.fn = fn or build_pipeline(process_ops)
        self.progress = progress
        self._bar = None
        self.set_range(0, len(self.files))

    def __len__(self):
        return len(self.files)

    def set_range(self, start_index: int, end_index: int):
        self._next, self._end = int(start_index), min(int(end_index), len(self.files))

    def get_next(self):
        if self._next >= self._end:
            return None
        x = self.fn(self.files[self._next])[None]
        self._next += 1
        if self.progress:
            if self._bar is None:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=len(self.files), desc="calibration", unit="img")
            self._bar.update(1)
            if self._bar.n >= len(self.files):
                self._bar.close()
        return {self.input_name: x}

    def rewind(self):
        self.set_range(0, len(self.files))

    def __iter__(self):
        self.rewind()
        while (item := self.get_next()) is not None:
            yield item
