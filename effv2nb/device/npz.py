"""Notebook 04, ``python -m effv2nb image2npz`` / ``vamp --datalist`` / ``npz-decode``: the vendor's step 5 (docs/vendor-files.md, section "npz path").

The npz path of the vendor's step 5: ``image2npz``, a vamp stand-in, ``npz-decode``.

- ``image2npz``: every image below ``--dataset-path`` decoded to RGB and stored as uint8 CHW under
  key ``input_0``, one ``.npz`` per image in a folder per class (``TARGET/<class>/<stem>.npz``);
  the datalist (``--text-path``) holds one absolute npz path per line.
- ``run_datalist`` (``python -m effv2nb vamp --datalist``, the stand-in for the vendor's): preprocesses each
  ``input_0`` with the vdsp op, runs a runner (in ``-i`` instance threads), writes
  ``OUTPUT/output_<line:06d>.npz`` with key ``output_0`` (the scores).
- ``npz-decode DATALIST OUTPUT_DIR RESULT.txt [LABEL_TXT]``: output files sorted by file name
  (natural order: ``output_2`` before ``output_10``) correspond, in order, to the datalist lines;
  writes the result file (``effv2nb.formats.result_file``) with the npz paths as image paths (their parent
  folder is the class, so ``eval-topk`` reads it directly). Scores that are not finite numbers
  (NaN, inf, or beyond float32) are refused, naming the output file.

The datalist is read as other tools write it (``effv2nb.core.textio``: byte-order mark, CRLF / CR).
Every file is written atomically; ``image2npz`` first checks that its output folders can be
written, so a read-only or missing target fails at once, naming the folder.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from effv2nb.core import atomic
from effv2nb.device import preprocess, runtime
from effv2nb.formats import result_file as results
from effv2nb.data.datasets import list_images
from effv2nb.core.errors import Effv2nbError
from effv2nb.formats.vdsp import resolve
from effv2nb.data.images import read_image

INPUT_KEY = "input_0"
OUTPUT_KEY = "output_0"


def _save_npz(path, **arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic.write_bytes(path, buf.getvalue())


def _load_npz(path, key):
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if key not in z.files:
                raise Effv2nbError(f"no key '{key}' (keys: {', '.join(z.files) or 'none'})", path)
            return z[key]
    except Effv2nbError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise Effv2nbError(f"cannot read npz: {exc}", path) from None


def image2npz(dataset_path, target_path, text_path, progress: bool = True):
    """Convert a class-folder image tree to npz files + datalist; returns ``(n_written, skipped)``."""
    root = Path(dataset_path)
    files = list_images(root)
    if not files:
        raise Effv2nbError("no images found", root)
    target = Path(target_path)
    atomic.check_writable(target, "--target-path")
    atomic.check_writable(Path(text_path).absolute().parent, "--text-path")
    lines, skipped = [], []
    it = files
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(files, desc="image2npz", unit="img", leave=False)
    for p in it:
        rel = p.relative_to(root)
        try:
            arr = np.asarray(read_image(p), dtype=np.uint8).transpose(2, 0, 1)
        except Effv2nbError as exc:
            skipped.append((p, exc.message))
            continue
        out = (target / rel).with_suffix(".npz")
        _save_npz(out, **{INPUT_KEY: np.ascontiguousarray(arr)})
        lines.append(str(out.resolve()))
    atomic.write_text(text_path, "".join(line + "\n" for line in lines))
    return len(lines), skipped


def read_datalist(path) -> list:
    from effv2nb.core.textio import read_lines

    path = Path(path)
    lines = [ln.strip() for ln in read_lines(path, "datalist")]
    entries = [ln for ln in lines if ln]
    if not entries:
        raise Effv2nbError("datalist is empty", path)
    return entries


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def output_files(output_dir) -> list:
    d = Path(output_dir)
    if not d.is_dir():
        raise Effv2nbError("no such folder", d)
    return sorted((p for p in d.iterdir() if p.suffix == ".npz"), key=_natural_key)


def run_datalist(runner, datalist, output_dir, vdsp, batch: int = 8, instances: int = 1, part=(0, 1),
                 latencies: list | None = None):
    """vamp stand-in: ``input_0`` (uint8 CHW) -> vdsp preprocessing -> runner -> ``output_0`` per line.

    ``instances`` threads share ``runner`` and take the batches in turn; ``part=(k, n)``: only every
    n-th batch from the k-th (one of n processes). Each batch's seconds are appended to ``latencies``.
    """
    import concurrent.futures as cf
    import time

    from effv2nb.device.infer import check_sizes

    entries = read_datalist(datalist)
    check_sizes(runner, vdsp)
    op = resolve(vdsp, runner.input_size) if runner.host_preprocess else None
    out_dir = Path(output_dir)
    starts = list(range(0, len(entries), batch))[part[0]::part[1]]

    def one(i):
        items = []
        for e in entries[i:i + batch]:
            chw = _load_npz(e, INPUT_KEY)
            if chw.dtype != np.uint8 or chw.ndim != 3 or chw.shape[0] != 3:
                raise Effv2nbError(f"'{INPUT_KEY}' must be a uint8 image of shape (3, H, W), got {chw.dtype} "
                                   f"{tuple(chw.shape)}", e)
            hwc = chw.transpose(1, 2, 0)
            items.append(preprocess.apply(op, hwc) if op is not None else hwc)
        t0 = time.perf_counter()
        scores = runner.run(np.stack(items)) if op is not None else runner.run_images(items)
        seconds = time.perf_counter() - t0
        for j, s in enumerate(scores):
            _save_npz(out_dir / f"output_{i + j:06d}.npz", **{OUTPUT_KEY: np.asarray(s, dtype=np.float32)})
        return seconds

    if instances <= 1:
        times = [one(i) for i in starts]
    else:
        with cf.ThreadPoolExecutor(max_workers=instances) as pool:
            times = list(pool.map(one, starts))
    if latencies is not None:
        latencies.extend(times)
    return out_dir


def _scores(path) -> np.ndarray:
    """``output_0`` of one output file as float32 scores; not numbers, or not finite: an error."""
    raw = np.asarray(_load_npz(path, OUTPUT_KEY))
    if raw.dtype.kind not in "iuf" or raw.size == 0:
        raise Effv2nbError(f"'{OUTPUT_KEY}' must hold numbers (the scores), got {raw.dtype} of shape "
                           f"{tuple(raw.shape)}", path)
    wide = raw.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(wide)):
        raise Effv2nbError(f"'{OUTPUT_KEY}' holds scores that are not finite numbers (NaN or inf)", path)
    if np.abs(wide).max() > np.finfo(np.float32).max:
        raise Effv2nbError(f"'{OUTPUT_KEY}' holds scores too large for float32", path)
    return wide.astype(np.float32)


def npz_decode(datalist, output_dir, result_txt, label_txt=None, topk: int = 5) -> Path:
    """Outputs + datalist -> result file."""
    from effv2nb.device.infer import labels_for

    entries = read_datalist(datalist)
    outs = output_files(output_dir)
    if len(outs) != len(entries):
        raise Effv2nbError(f"{len(outs)} output npz files for {len(entries)} datalist lines", output_dir)
    scores = [_scores(o) for o in outs]
    sizes = {len(x) for x in scores}
    if len(sizes) > 1:
        raise Effv2nbError(f"output files hold different numbers of scores ({', '.join(map(str, sorted(sizes)))})",
                           output_dir)
    scores = np.stack(scores)
    probs = runtime.to_probs(scores)
    labels = labels_for(probs.shape[1], label_txt)
    k = min(topk, probs.shape[1])
    recs = []
    for e, row in zip(entries, probs):
        idx = np.argsort(-row, kind="stable")[:k]
        recs.append(results.Record(e, [int(i) for i in idx], [float(row[i]) for i in idx],
                                   [labels.name(int(i)) for i in idx]))
    return results.write(result_txt, recs)
