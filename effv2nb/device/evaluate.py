"""Notebooks 04-05, ``python -m effv2nb eval-topk``: scoring a result file.

``eval-topk``: top-1 / top-5 from a result file, matched by class index, not by name.

Ground truth is the image's parent folder: an ImageNet synset (``n01440764``, via timm), a class
name from ``--label-txt`` (one per line, index order), or a decimal class index. Folders are read
the same way with or without ``--label-txt``: a synset is a synset, also when the label file is
the vendor's ImageNet list (1000 names, read in ImageNet order). The prediction is the ``id`` on
each line, so a label list whose names differ from the model's (the vendor's list is truncated at
index 480) cannot turn right answers into wrong ones.

Prints ``top1_rate: <x> top5_rate: <y>`` (percent, at most 3 decimals) like the vendor's
``eval_topk.py``. A file with fewer than five predictions per image cannot carry top-5: then the
top-k it can carry is printed under its own name (``top1_rate: <x> top3_rate: <y>``; only
``top1_rate`` for one prediction per image) and a note on stderr says why. Exit 0; 2 on a
malformed file (the message names the line), a class id not below the number of classes, or an
image whose folder names no class.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from effv2nb.data import labels as labels_mod
from effv2nb.formats import result_file as results
from effv2nb.core.errors import Effv2nbError


TOP_K = 5


@dataclass
class TopK:
    """Hits over ``images``: ``top1``, and ``top5`` within the first ``min(5, per_image)`` predictions."""

    images: int
    top1: int
    top5: int
    per_image: int = TOP_K     # predictions per image in the file

    @property
    def k(self) -> int:
        """The widest top-k the file carries (at most 5)."""
        return min(TOP_K, self.per_image)

    @property
    def top1_rate(self) -> float:
        return 100.0 * self.top1 / self.images if self.images else 0.0

    @property
    def top5_rate(self) -> float:
        return 100.0 * self.top5 / self.images if self.images else 0.0

    def line(self) -> str:
        """``top1_rate: x top5_rate: y``; ``top<k>_rate`` when the file carries only k < 5 predictions."""
        out = f"top1_rate: {fmt_rate(self.top1_rate)}"
        if self.k > 1:
            out += f" top{self.k}_rate: {fmt_rate(self.top5_rate)}"
        return out

    def note(self) -> str:
        """Why top-5 is not printed, or ``""``."""
        if self.k >= TOP_K:
            return ""
        shown = f"top-{self.k} is printed instead" if self.k > 1 else "only top-1 is printed"
        return (f"the result file has {self.per_image} prediction(s) per image; top-5 needs {TOP_K}, "
                f"so {shown}")


def fmt_rate(x: float) -> str:
    s = f"{x:.3f}".rstrip("0").rstrip(".")
    return s or "0"


def class_folder(image_path: str) -> str:
    return PurePath(image_path.replace("\\", "/")).parent.name


def ground_truth(image_path: str, labels) -> int | None:
    """Class index named by the parent folder of ``image_path`` (synset, name or index), else None."""
    parent = class_folder(image_path)
    return labels.index_of(parent) if parent else None


def evaluate_records(records, labels, source="<results>") -> TopK:
    if not records:
        raise Effv2nbError("result file holds no results", source)
    top1 = top5 = 0
    per_image = results.per_image(records)
    width = min(TOP_K, per_image)
    n_classes = len(labels)
    for r in records:
        for k, i in enumerate(r.ids):
            if i >= n_classes:
                raise Effv2nbError(
                    f"class id {i} is out of range: {labels.source or 'the labels'} has {n_classes} classes "
                    f"(ids 0..{n_classes - 1}); result file for another model or label list?",
                    source, f"line {r.line + k}")
        gt = ground_truth(r.path, labels)
        if gt is None:
            folder = class_folder(r.path) or "(none)"
            if labels_mod.is_synset(folder):
                why = (f"folder '{folder}' is an ImageNet synset, but {labels.source or 'the labels'} has "
                       f"{n_classes} classes, not ImageNet's {labels_mod.IMAGENET_CLASSES}")
            else:
                why = (f"folder '{folder}' is not a synset, a class name of {labels.source or 'the labels'} "
                       "or an index")
            raise Effv2nbError(f"cannot tell the true class of {r.path}: {why}", source, f"line {r.line}")
        top1 += int(r.ids[0] == gt)
        top5 += int(gt in r.ids[:width])
    return TopK(len(records), top1, top5, per_image)


def evaluate_file(path, label_txt=None) -> TopK:
    labels = labels_mod.from_txt(label_txt) if label_txt else labels_mod.imagenet()
    return evaluate_records(results.read(path), labels, path)
