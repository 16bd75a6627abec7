"""Evaluation and calibration sets for the int8 study: notebook 05, ``python -m effv2nb int8-report``.

``load_eval_set`` / ``eval_set_from_samples``: a labelled folder preprocessed with the vdsp JSON (in memory,
or decoded batch by batch above ``MAX_IN_MEMORY_BYTES``); ``calibration_arrays`` / ``arrays_from_files``:
calibration inputs for ``quantize_int8``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from effv2nb.core.errors import Effv2nbError
from effv2nb.formats.vdsp import resolve
from effv2nb.device import preprocess


MAX_IN_MEMORY_BYTES = 2 * 1024 ** 3   # above this an evaluation set is decoded batch by batch


@dataclass
class EvalSet:
    """Preprocessed images (N, 3, H, W) float32 with their class indices and paths.

    ``x`` is None for a large set (ImageNet val): ``batches()`` then decodes and preprocesses on the
    fly, in a thread pool, so memory stays that of a few batches.
    """

    x: np.ndarray | None
    y: np.ndarray
    paths: list
    op: object = None

    def __len__(self):
        return len(self.y)

    def _load(self, paths):
        from effv2nb.data.images import read_image

        return np.stack([preprocess.apply(self.op, read_image(p)) for p in paths])

    def head(self, n: int) -> np.ndarray:
        return self.x[:n] if self.x is not None else self._load(self.paths[:n])

    def batches(self, batch: int = 64):
        if self.x is not None:
            for i in range(0, len(self.x), batch):
                yield self.x[i:i + batch]
            return
        from concurrent.futures import ThreadPoolExecutor

        chunks = [self.paths[i:i + batch] for i in range(0, len(self.paths), batch)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield from pool.map(self._load, chunks)


def load_eval_set(folder, vdsp, labels, size=None, limit=None, skip_unknown=False, in_memory=None) -> EvalSet:
    """A class-folder image tree, preprocessed with the vdsp op (the device's preprocessing).

    ``limit``: an even spread of that many images over the sorted list (every class kept).
    ``in_memory``: default True when the tensors fit in ``MAX_IN_MEMORY_BYTES``.
    """
    from effv2nb.data.datasets import folder_samples
    from effv2nb.data.images import read_image

    from effv2nb.data.folds import spread

    samples = folder_samples(folder, labels, allow_unknown=skip_unknown)
    samples = [s for s in samples if s.label is not None]
    return eval_set_from_samples(spread(samples, limit or None), vdsp, size, in_memory)


def eval_set_from_samples(samples, vdsp, size=None, in_memory=None) -> EvalSet:
    """An ``EvalSet`` of ``effv2nb.data.datasets.Sample`` items (one fold of ``effv2nb.data.folds``)."""
    from effv2nb.data.images import read_image

    if not samples:
        raise Effv2nbError("no images to evaluate on")
    op = resolve(vdsp, size)
    if in_memory is None:
        in_memory = len(samples) * 3 * op.out_h * op.out_w * 4 <= MAX_IN_MEMORY_BYTES
    y = np.array([s.label for s in samples], dtype=np.int64)
    paths = [s.path for s in samples]
    x = np.stack([preprocess.apply(op, read_image(p)) for p in paths]) if in_memory else None
    return EvalSet(x, y, paths, op)


def calibration_arrays(folder, vdsp, size=None, n: int = 50) -> list:
    """``n`` calibration images (sorted order, as the vendor's sampler takes them), each (1, 3, H, W)."""
    from effv2nb.data.datasets import list_images
    from effv2nb.data.images import read_image

    from effv2nb.data.folds import spread

    # the vendor takes the first N sorted files; with class folders that is class 0 only. Spread
    # the pick over the sorted list instead, so that every class is seen (effv2nb.data.folds).
    files = spread(list_images(folder), int(n))
    if not files:
        raise Effv2nbError("no calibration images", folder)
    return arrays_from_files(files, vdsp, size)


def arrays_from_files(files, vdsp, size=None) -> list:
    """Each file through the vdsp op (the device's preprocessing), as (1, 3, H, W) float32 arrays."""
    from effv2nb.data.images import read_image

    op = resolve(vdsp, size)
    return [preprocess.apply(op, read_image(p))[None] for p in files]
