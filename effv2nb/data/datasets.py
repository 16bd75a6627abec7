"""Notebooks 04-05; ``infer``, ``image2npz``, ``compile`` (calibration folder): folder datasets.

Folder datasets laid out as ``ROOT/<class folder>/<image>`` (ImageNet synsets or digit labels)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from effv2nb.core.errors import Effv2nbError
from effv2nb.data.images import IMAGE_SUFFIXES
from effv2nb.data.labels import Labels


def _walk_files(root: Path):
    """All files below ``root``, sorted, following symlinks but never a loop."""
    seen = set()
    out = []

    def visit(folder: Path):
        try:
            real = folder.resolve(strict=True)
        except (OSError, RuntimeError):
            return
        if real in seen:
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            p = Path(entry.path)
            try:
                if entry.is_dir():
                    visit(p)
                elif entry.is_file():
                    out.append(p)
            except OSError:
                continue

    visit(root)
    return out


def list_images(folder, suffix=None, limit=None):
    """Image files below ``folder`` in sorted order; ``suffix`` like ``JPEG`` or ``.png`` filters."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Effv2nbError("no such folder", folder)
    if suffix:
        wanted = ("." + str(suffix).lstrip(".")).lower()
        files = [p for p in _walk_files(folder) if p.suffix.lower() == wanted]
    else:
        files = [p for p in _walk_files(folder) if p.suffix.lower() in IMAGE_SUFFIXES]
    files.sort(key=lambda p: str(p.relative_to(folder)))
    return files[:limit] if limit else files


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int | None   # None: the class folder names no known class
    folder: str


def folder_samples(root, labels: Labels, allow_unknown: bool = False):
    """Samples of ``ROOT/<class>/<image>``; class folders map to indices through ``labels``.

    Raises when there is no image, or (unless ``allow_unknown``) when a class folder names a
    class that ``labels`` does not know.
    """
    root = Path(root)
    files = list_images(root)
    if not files:
        raise Effv2nbError("no images found (expected ROOT/<class folder>/<image>)", root)
    samples, unknown = [], set()
    for p in files:
        rel = p.relative_to(root)
        folder = rel.parts[0] if len(rel.parts) > 1 else ""
        idx = labels.index_of(folder) if folder else None
        if idx is None:
            unknown.add(folder or "(no class folder)")
        samples.append(Sample(p, idx, folder))
    if unknown and not allow_unknown:
        shown = ", ".join(sorted(unknown)[:5])
        raise Effv2nbError(
            f"{len(unknown)} class folder(s) not in the labels ({labels.source or 'given labels'}): {shown}", root)
    return samples
