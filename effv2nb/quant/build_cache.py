"""Notebook 05 and ``int8-report``: each distinct int8 model is quantized once per process.

The int8 study asks for the same model more than once: the accuracy table's "max, per-channel" row is
the levers' base, a best_int8 candidate and the greedy search's step 0; the table's stock row is the
side-by-side report's ``stock``. ONNX Runtime's quantizer is deterministic (same float model, same
arguments, same calibration arrays: the same file) and costs seconds per model on an ImageNet network,
so ``int8_recipes.Recipe.quantize`` asks here first and copies the earlier file on a hit.

A key holds everything the result depends on: the float model (resolved path, size, modification
time), the quantizer's arguments (``nodes_to_exclude`` as a set) and a hash of the calibration arrays'
bytes. An entry is used only while its file is unchanged (same size and modification time), so a
file written over later is never handed out. ``seconds(path)`` is what the first build took (a copy
reports the build's time, not the copy's).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

_ENTRIES: dict = {}      # key -> (path, size, mtime_ns, seconds)
_SECONDS: dict = {}      # str(path) -> seconds of the build that made it
_HASHED: dict = {}       # ids of a list of arrays -> (the arrays, their hash)


def fingerprint(arrays) -> str:
    """A hash of the calibration arrays (dtype, shape and bytes of each, in order).

    The last few lists hashed are remembered by the identity of their arrays (held, so an identity
    cannot be reused): a study hashes its calibration list once, not once per model.
    """
    arrays = list(arrays)
    ids = tuple(map(id, arrays))
    if ids in _HASHED:
        return _HASHED[ids][1]
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.data)
    while len(_HASHED) >= 4:
        _HASHED.pop(next(iter(_HASHED)))
    _HASHED[ids] = (arrays, h.hexdigest())
    return _HASHED[ids][1]


def key(fp32_onnx, calib, **arguments) -> tuple:
    """The cache key of one quantization of ``fp32_onnx`` on ``calib`` with ``arguments``."""
    p = Path(fp32_onnx).resolve()
    st = p.stat()
    args = {k: sorted(v) if k == "nodes_to_exclude" else v for k, v in arguments.items()}
    return (str(p), st.st_size, st.st_mtime_ns, json.dumps(args, sort_keys=True, default=str), fingerprint(calib))


def _stamp(path):
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def lookup(k) -> Path | None:
    """The file built for key ``k``, if it is still there unchanged; else None."""
    entry = _ENTRIES.get(k)
    if entry is None:
        return None
    path, size, mtime, _ = entry
    try:
        if _stamp(path) == (size, mtime):
            return path
    except OSError:
        pass
    _ENTRIES.pop(k, None)
    return None


def store(k, path, seconds: float) -> None:
    """Remember that ``path`` is the model of key ``k`` (built in ``seconds``)."""
    path = Path(path)
    _ENTRIES[k] = (path, *_stamp(path), float(seconds))
    _SECONDS[str(path)] = float(seconds)


def copy(k, out, side: bool = False) -> Path | None:
    """Copy the model of key ``k`` to ``out`` (with ``side``, its ``.json`` side file too); None when
    there is none."""
    from effv2nb.core.atomic import atomic_path

    src = lookup(k)
    if src is None:
        return None
    out = Path(out)
    seconds = _ENTRIES[k][3]
    if src.resolve() != out.resolve():
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            shutil.copyfile(src, tmp)
        if side and src.with_suffix(".json").is_file():
            with atomic_path(out.with_suffix(".json")) as tmp:
                shutil.copyfile(src.with_suffix(".json"), tmp)
    _SECONDS[str(out)] = seconds
    return out


def seconds(path, default: float | None = None):
    """How long the build of ``path`` took (the original build for a copy), else ``default``."""
    return _SECONDS.get(str(Path(path)), default)


def clear() -> None:
    """Forget every entry (the files stay)."""
    _ENTRIES.clear()
    _SECONDS.clear()
    _HASHED.clear()
