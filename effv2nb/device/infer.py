"""Notebook 04, ``python -m effv2nb infer``: runstream inference, the vendor's step 4.

``infer``: the vendor's step 4 (runstream inference) on a file or a folder, writing the result file.

    python -m effv2nb infer --file-path IMAGE_OR_DIR --model-prefix PREFIX --vdsp-params JSON \\
        [--label-txt FILE] --save-dir DIR --save-result-txt result.txt \\
        [--infer-mode sync|async] [--batch N] [--backend ort|torch|vsx] [--device-id 0] \\
        [--resume] [--cluster local:N|tcp://HOST:PORT]

``PREFIX`` is ``<workspace>/<name>/mod`` as compile writes it (``ort`` runs ``PREFIX.onnx``;
see ``effv2nb.device.runtime`` for ``torch`` and ``vsx``). A folder is read as
``DIR/<class folder>/<image>`` (any depth, sorted). The result file has the vendor's line format
(``effv2nb.formats.result_file``), streamed as batches finish (``effv2nb.device.result_stream``) into a
resumable journal (``effv2nb.device.journal``) that becomes the result file by rename. ``--save-dir`` is
created and checked to be writable before any model loads: a folder that cannot be created or
written fails at once, in one line naming it.

Modes: ``sync`` decodes, preprocesses and runs one batch after the other; ``async`` decodes and
preprocesses in a thread pool while the model runs the previous batch (ONNX Runtime releases
the GIL), so the two overlap. With ``--backend vsx`` the mode also picks how images reach the
device (``run_sync`` per image, or ``run_async`` per batch; see ``effv2nb.device.runtime``).

Images that cannot be decoded are skipped and listed at the end (file and reason). Exit status:
0 all images done; 1 some skipped (results for the others are written); 2 an error (nothing
written, or no image could be read). A vdsp output size that differs from the model's input size
is an error before any image is read. The result file appears only when complete: an interrupted
run leaves ``<result>.partial`` and its resume state (``--resume`` goes on from there) and an older
result file as it was; a finished run keeps the older one as ``<result>.bak``.

``iter_batches`` is the pipeline itself (one ``BatchResult`` per batch, in path order);
``run_folder(runner, source, vdsp, mode, batch)`` collects it for notebooks and benchmarks;
``model_only`` times the runner alone on the same, already preprocessed, images.
"""
from __future__ import annotations

import collections
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from effv2nb.device import preprocess, runtime
from effv2nb.formats import result_file as results
from effv2nb.data.datasets import list_images
from effv2nb.core.errors import Effv2nbError
from effv2nb.formats.vdsp import resolve
from effv2nb.data.images import IMAGE_SUFFIXES, read_rgb

MODES = ("sync", "async")


@dataclass
class ImageTopK:
    path: Path
    ids: list
    probs: list
    scores: np.ndarray | None = None   # all class probabilities, when asked for
    num_classes: int = 0               # how many classes the model scored


@dataclass
class Stats:
    mode: str
    batch: int
    images: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    failed: list = field(default_factory=list)   # (path, reason)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        s = (f"{self.images} images in {self.seconds:.2f} s ({self.images_per_s:.1f} images/s, "
             f"{self.mode}, batch {self.batch})")
        if self.failed:
            s += f"; {len(self.failed)} skipped"
        return s


def list_sources(source) -> list:
    """Image paths from a file, a folder (recursive, sorted) or a list of paths."""
    if isinstance(source, (list, tuple)):
        return [Path(p) for p in source]
    p = Path(source)
    if p.is_file():
        return [p]
    if not p.exists():
        raise Effv2nbError("no such file or folder", p)
    files = list_images(p)
    if not files:
        raise Effv2nbError(f"no images found (suffixes {', '.join(IMAGE_SUFFIXES)})", p)
    return files


def check_sizes(runner, vdsp, vdsp_path=None) -> None:
    """The vdsp output size must be the model's input size (when the model fixes one)."""
    size = runner.input_size
    if not runner.host_preprocess or not size:
        return
    op = resolve(vdsp, size)
    if (op.out_h, op.out_w) != tuple(size):
        raise Effv2nbError(
            f"the vdsp params give {op.out_h}x{op.out_w} images (OimageHeight x OimageWidth), the model takes "
            f"{size[0]}x{size[1]} (regenerate them: python -m effv2nb config vdsp --model NAME --size {size[-1]})",
            vdsp_path, "OpConfig.OimageWidth")


def _loader(runner, vdsp):
    size = runner.input_size
    check_sizes(runner, vdsp)
    op = resolve(vdsp, size) if runner.host_preprocess else None

    def load(path):
        img = read_rgb(path)
        if op is not None:
            return preprocess.apply(op, img)
        return runner.prepare_image(img)

    return load


def _infer(runner, items, mode: str = "sync"):
    if runner.host_preprocess:
        return runner.run(np.stack(items))
    return runner.run_images(items, mode=mode)


@dataclass
class BatchResult:
    """One batch of the sorted image list, done: ``stop`` = how many images of the list are done after
    it (a batch boundary), its predictions in path order, and the images it could not read."""

    stop: int
    preds: list
    failed: list


def chunks(n: int, batch: int, start: int = 0) -> list:
    """``(i, j)`` ranges of ``batch`` images over a list of ``n``, from ``start`` (a batch boundary)."""
    return [(i, min(i + batch, n)) for i in range(start, n, batch)]


def _load_chunk(load, chunk):
    items, ok, bad = [], [], []
    for p in chunk:
        try:
            items.append(load(p))
            ok.append(p)
        except Effv2nbError as exc:
            bad.append((p, exc.message))
    return ok, items, bad


def _loaded_sync(paths, load, ranges):
    for i, j in ranges:
        yield j, _load_chunk(load, paths[i:j])


def _loaded_async(paths, load, ranges, workers):
    """Decode + preprocess whole batches in a thread pool, at most ``workers + 1`` batches ahead of the
    model (a bounded queue: memory stays that of a few batches however long the list)."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="effv2nb-decode") as pool:
        pending = collections.deque()
        it = iter(ranges)
        for i, j in it:
            pending.append((j, pool.submit(_load_chunk, load, paths[i:j])))
            if len(pending) > workers:
                break
        while pending:
            j, fut = pending.popleft()
            loaded = fut.result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt[1], pool.submit(_load_chunk, load, paths[nxt[0]:nxt[1]])))
            yield j, loaded


def iter_batches(runner, paths, vdsp, mode: str = "async", batch: int = 8, topk: int = 5,
                 workers: int | None = None, start: int = 0, keep_scores: bool = False, stats=None):
    """The decode -> vdsp -> model pipeline over ``paths[start:]``, one ``BatchResult`` per batch, in order.

    In ``async`` mode JPEG decode and the vdsp op (Pillow and OpenCV release the GIL) run in
    ``workers`` threads while the model runs the batch before; ``sync`` does one after the other.
    """
    if mode not in MODES:
        raise Effv2nbError(f"unknown infer mode '{mode}'; choose sync or async", where="--infer-mode")
    batch = int(batch)
    if batch < 1:
        raise Effv2nbError("batch must be at least 1", where="--batch")
    load = _loader(runner, vdsp)
    ranges = chunks(len(paths), batch, start)
    workers = workers or max(1, min(4, (os.cpu_count() or 2)))
    gen = _loaded_sync(paths, load, ranges) if mode == "sync" else _loaded_async(paths, load, ranges, workers)
    for stop, (ok, items, bad) in gen:
        preds = []
        if items:
            tm = time.perf_counter()
            probs = runtime.to_probs(_infer(runner, items, mode))
            if stats is not None:
                stats.model_seconds += time.perf_counter() - tm
            preds = top_k(ok, probs, topk, keep_scores)
        yield BatchResult(stop, preds, bad)


def top_k(paths, probs, topk: int = 5, keep_scores: bool = False) -> list:
    """``ImageTopK`` per image from a (N, C) probability array, best first (ties in class order)."""
    k = min(topk, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [ImageTopK(p, [int(i) for i in idx], [float(row[i]) for i in idx], row.copy() if keep_scores else None,
                      probs.shape[1]) for p, row, idx in zip(paths, probs, order)]


def progress_bar(total: int, initial: int = 0, desc: str = "infer", enabled: bool = True):
    """tqdm's bar (images/s and the time left), or None."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="img", leave=False, smoothing=0.1)


def run_folder(runner, source, vdsp, mode: str = "async", batch: int = 8, topk: int = 5,
               workers: int | None = None, progress: bool = True, keep_scores: bool = False):
    """Run the decode -> preprocess -> model pipeline over ``source`` -> ``(predictions, stats)``.

    ``source``: an image, a folder or a list of paths; ``vdsp``: the parsed vdsp dict (ignored by
    runners that preprocess on the device, which read their own JSON). Keeps every prediction: for a
    notebook's few hundred images; ``infer`` streams them to the result file instead
    (``effv2nb.device.result_stream``).
    """
    paths = list_sources(source)
    stats = Stats(mode=mode, batch=int(batch))
    bar = progress_bar(len(paths), desc=f"infer ({mode})", enabled=progress)
    preds = []
    t0 = time.perf_counter()
    for res in iter_batches(runner, paths, vdsp, mode, batch, topk, workers, keep_scores=keep_scores, stats=stats):
        preds.extend(res.preds)
        stats.failed.extend(res.failed)
        if bar is not None:
            bar.update(len(res.preds) + len(res.failed))
    stats.seconds = time.perf_counter() - t0
    stats.images = len(preds)
    if bar is not None:
        bar.close()
    return preds, stats


def model_only(runner, source, vdsp, batch: int = 8, limit: int | None = None) -> float:
    """Images per second of the runner alone, on the same images already decoded and preprocessed."""
    paths = list_sources(source)[:limit] if limit else list_sources(source)
    load = _loader(runner, vdsp)
    items = []
    for p in paths:
        try:
            items.append(load(p))
        except Effv2nbError:
            continue
    if not items:
        raise Effv2nbError("no readable image", source)
    _infer(runner, items[:batch])  # warm-up
    t = time.perf_counter()
    for i in range(0, len(items), batch):
        _infer(runner, items[i:i + batch])
    dt = time.perf_counter() - t
    return len(items) / dt if dt > 0 else float("inf")


def labels_for(num_classes: int, label_txt=None, prefix=None):
    """Class names for the result file: ``--label-txt``; else ImageNet for 1000 classes; else the
    digit labels for ``torch:tiny``; else the class indices as names ("0", "1", ...)."""
    from effv2nb.data import labels as labels_mod

    if label_txt:
        lab = labels_mod.from_txt(label_txt)
    elif num_classes == 1000:
        lab = labels_mod.imagenet()
    else:
        lab = None
        if prefix and str(prefix).startswith("torch:") and str(prefix)[6:].partition("@")[0] == "tiny":
            from effv2nb.core.settings import DIGITS_DIR

            lab = labels_mod.from_txt(DIGITS_DIR / "labels.txt")
        if lab is None:
            lab = labels_mod.Labels(names=tuple(str(i) for i in range(num_classes)), source="class indices")
    if len(lab) < num_classes:
        raise Effv2nbError(f"label file has {len(lab)} names, the model has {num_classes} classes",
                           label_txt, where="--label-txt")
    return lab


def to_records(preds, labels) -> list:
    return [results.Record(str(p.path), p.ids, p.probs, [labels.name(i) for i in p.ids]) for p in preds]
