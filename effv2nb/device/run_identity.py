"""``python -m effv2nb infer --resume``: what makes two runs the same run.

``identity(...)`` records every input that changes the result file: the model (its file's SHA-256,
or the ``torch:`` name and weights), the vdsp JSON (its bytes), the image folder and the list of
images in it, the label file, the runtime and the batch size (a batch's composition can change
a float's last bits). Display options (``--no-progress``), ``--workers``, ``--infer-mode`` and
``--cluster`` are not in it: they change how fast a run goes, not what it writes.
``differences(old, new)`` names what differs, in the user's words.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from effv2nb.core.checksums import file_sha256

# key -> how a person would name it
WHAT = {
    "model": "the model (--model-prefix)",
    "vdsp": "the vdsp params (--vdsp-params)",
    "source": "the image folder (--file-path)",
    "images": "the images found in --file-path",
    "labels": "the label file (--label-txt)",
    "backend": "the runtime (--backend)",
    "batch": "the batch size (--batch)",
}


def _file_id(path) -> str | None:
    if path is None:
        return None
    p = Path(path)
    return f"sha256:{file_sha256(p)}" if p.is_file() else str(path)


def model_id(runner, prefix) -> str:
    """The model file's SHA-256 when the runner reads one (``ort``), else the prefix as given."""
    path = getattr(runner, "path", None)
    if path is not None and Path(path).is_file():
        return f"sha256:{file_sha256(path)}"
    return str(prefix)


def images_id(paths) -> str:
    """How many images, and a hash of their sorted paths."""
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p).encode("utf-8", "surrogateescape") + b"\n")
    return f"{len(paths)} images, sha256:{h.hexdigest()[:16]}"


def identity(runner, prefix, vdsp_path, source, paths, label_txt, backend: str, batch: int) -> dict:
    return {"model": model_id(runner, prefix), "vdsp": _file_id(vdsp_path),
            "source": str(Path(source).resolve()) if not isinstance(source, (list, tuple)) else "a list of images",
            "images": images_id(paths), "labels": _file_id(label_txt), "backend": backend, "batch": int(batch)}


def differences(old: dict, new: dict) -> list:
    """One phrase per key that differs: ``the batch size (--batch) was 8, now 1``."""
    out = []
    for key in WHAT:
        a, b = old.get(key), new.get(key)
        if a != b:
            out.append(f"{WHAT[key]} differs from the interrupted run's (was {_short(a)}, now {_short(b)})")
    return out


def _short(v) -> str:
    s = "none" if v is None else str(v)
    return s if len(s) <= 40 else s[:37] + "..."
