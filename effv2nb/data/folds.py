"""Notebook 05, ``int8-report``, and ``compile``'s ``dataset.sampler.pick``: folds and picks.

Which images calibrate, which choose a recipe, which report: disjoint folds, and even picks.

Serves notebook 05 and ``python -m effv2nb int8-report`` (the split line), and ``compile``'s sampler.

A recipe chosen on the images it is scored on looks better than it is. So the int8 work uses three
folds that never share an image:

- **calibration**: the images whose activations set the quantization ranges;
- **selection**: the images every choice is scored on (levers, sensitivity, greedy fallback);
- **test**: the images reported, touched once, after every choice is made.

One folder splits deterministically: inside each class folder, files are ordered by the SHA-256 of
their path relative to the root (POSIX separators), and the fractions are cut along that order. The
split is the same on every run and machine, every class with at least as many images as there are
folds is in every fold, and adding an image to such a class moves no image of another class.
Classes too small to split that way (fewer images than folds: an ImageNet sample set with one image
per class) are pooled and the pool is cut across classes, in the same hash order, so that no fold
is left empty. A folder with fewer images than folds stops with one line saying how many each fold needs.

Picking ``n`` files from a sorted list (``pick``): ``"first"`` is the vendor's sampler (the first
``n`` in sorted order, which on ``DIR/<class>/<image>`` means the first class or two); ``"spread"``
takes ``n`` evenly spaced files, so every class is seen.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from effv2nb.core.errors import Effv2nbError

PICKS = ("first", "spread")
VENDOR_PICK = "first"
FOLDS = ("calibration", "selection", "test")


def spread(items, n: int | None) -> list:
    """``n`` evenly spaced items of ``items`` (all when ``n`` is None or not smaller), order kept."""
    items = list(items)
    if n is None or n >= len(items):
        return items
    if n <= 0:
        return []
    idx = np.linspace(0, len(items) - 1, num=int(n)).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def pick(items, n: int | None, how: str = VENDOR_PICK) -> list:
    """``n`` of the sorted ``items``: ``"first"`` (the vendor's sampler) or ``"spread"``."""
    if how not in PICKS:
        raise Effv2nbError(f"pick must be one of {', '.join(PICKS)}, not {how!r}")
    return spread(items, n) if how == "spread" else list(items)[:n] if n is not None else list(items)


def path_key(root, path) -> str:
    """The stable hash of a file's path relative to ``root`` (POSIX form), as hex."""
    rel = Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    return hashlib.sha256(rel.encode("utf-8")).hexdigest()


@dataclass
class Split:
    """Disjoint folds of samples (``effv2nb.data.datasets.Sample``): ``folds[name] -> list``."""

    folds: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)      # fold -> the folder it came from

    def __getitem__(self, name):
        return self.folds[name]

    def counts(self) -> dict:
        return {k: len(v) for k, v in self.folds.items()}

    def overlap(self) -> int:
        """How many files are in more than one fold (by resolved path): 0 for a valid split."""
        seen, dup = set(), 0
        for samples in self.folds.values():
            for s in samples:
                key = Path(s.path).resolve()
                dup += key in seen
                seen.add(key)
        return dup

    def line(self) -> str:
        """``split: calibration N selection M test K overlap 0``."""
        c = self.counts()
        return ("split: " + " ".join(f"{k} {c.get(k, 0)}" for k in FOLDS) + f" overlap {self.overlap()}")


def _cut(members: list, shares: np.ndarray) -> list:
    """Cut ``members`` (in order) by ``shares``; every part gets one item first when there are enough."""
    n, k = len(members), len(shares)
    cuts = np.floor(np.cumsum(shares) * n + 1e-9).astype(int)
    cuts[-1] = n
    if n >= k:
        for i in range(k):
            low = cuts[i - 1] + 1 if i else 1
            cuts[i] = min(max(cuts[i], low), n - (k - 1 - i))
    parts, start = [], 0
    for end in cuts:
        parts.append(members[start:end])
        start = end
    return parts


def split_samples(root, samples, fractions) -> dict:
    """Cut ``samples`` of ``root`` into folds by ``fractions`` (fold -> share, summing to 1).

    Per class where the class has at least one image per fold; the images of smaller classes are
    pooled and cut across classes. Every fold gets at least one image; a folder with fewer images
    than folds is an ``Effv2nbError`` (one line: how many images each fold needs)."""
    names = list(fractions)
    shares = np.array([float(fractions[k]) for k in names])
    if (shares <= 0).any() or abs(shares.sum() - 1) > 1e-6:
        raise Effv2nbError(f"fold fractions must be positive and sum to 1, got {dict(fractions)}")
    samples = list(samples)
    if len(samples) < len(names):
        raise Effv2nbError(f"{len(samples)} labelled image(s) cannot fill {len(names)} folds "
                           f"({', '.join(names)}): each fold needs at least 1 image, so at least "
                           f"{len(names)} in all", root)
    by_class = {}
    for s in samples:
        by_class.setdefault(s.label, []).append(s)
    out = {k: [] for k in names}
    pool = []
    for members in by_class.values():
        members = sorted(members, key=lambda s: path_key(root, s.path))
        if len(members) < len(names):
            pool.extend(members)             # too small to split on its own: cut across classes below
            continue
        for k, part in zip(names, _cut(members, shares)):
            out[k].extend(part)
    if pool:   # at least one image per fold: the large classes gave one, or the pool is the whole folder
        pool.sort(key=lambda s: path_key(root, s.path))
        for k, part in zip(names, _cut(pool, shares)):
            out[k].extend(part)
    return {k: sorted(v, key=lambda s: str(s.path)) for k, v in out.items()}


def make_split(eval_dir, labels, calib_dir=None, allow_test_calibration: bool = False,
               fractions=None, skip_unknown: bool = False) -> Split:
    """The three folds for notebook 05 and ``int8-report``.

    With a separate ``calib_dir`` (the digits' ``calib/`` folder, or a user's own calibration set),
    calibration is that folder and ``eval_dir`` splits into selection and test (default 50 / 50).
    Without one, ``eval_dir`` splits three ways (default 20 / 40 / 40). A ``calib_dir`` that holds any
    test image is refused unless ``allow_test_calibration`` (it is then reported as overlap).
    """
    from effv2nb.data.datasets import folder_samples

    eval_dir = Path(eval_dir)
    samples = [s for s in folder_samples(eval_dir, labels, allow_unknown=skip_unknown) if s.label is not None]
    same = calib_dir is not None and Path(calib_dir).resolve() == eval_dir.resolve()
    if calib_dir is None or same:
        folds = split_samples(eval_dir, samples, fractions or {"calibration": 0.2, "selection": 0.4, "test": 0.4})
        return Split(folds, {k: str(eval_dir) for k in folds})
    folds = split_samples(eval_dir, samples, fractions or {"selection": 0.5, "test": 0.5})
    calib = [s for s in folder_samples(calib_dir, labels, allow_unknown=True)]
    test_files = {Path(s.path).resolve() for s in folds["test"]}
    shared = [s for s in calib if Path(s.path).resolve() in test_files]
    if shared and not allow_test_calibration:
        raise Effv2nbError(f"{len(shared)} calibration image(s) are test images (e.g. {shared[0].path}); "
                           "calibrating on the test fold is refused unless asked for by name "
                           "(allow_test_calibration=True, EFFV2NB_CALIBRATE_ON_TEST=1)", calib_dir)
    split = Split({"calibration": calib, **folds}, {"calibration": str(calib_dir), "selection": str(eval_dir),
                                                     "test": str(eval_dir)})
    return split


def materialize(samples, dest, root=None) -> Path:
    """A folder ``dest/<class folder>/<file>`` of symbolic links to ``samples`` (one fold as a folder,
    for the commands that read folders: ``compile``'s ``dataset.path``, ``infer --file-path``)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)       # an empty fold is still a folder
    for s in samples:
        link = dest / (s.folder or "_") / Path(s.path).name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(s.path).resolve())
    return dest
