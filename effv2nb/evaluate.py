"""``eval-topk``: top-1 / top-5 from a result file, matched by class index, not by name.

Ground truth is the image's parent folder: an ImageNet synset (``n01440764``, via timm), a class
name from ``--label-txt`` (one per line, index order), or a decimal class index. The prediction is
the ``id`` on each line, so a label list whose names differ from the model's (the vendor's list is
truncated at index 480) cannot turn right answers into wrong ones.

Prints ``top1_rate: <x> top5_rate: <y>`` (percent, at most 3 decimals) like the seed's
``eval_topk.py``. Exit 0; 2 on a malformed file (the message names the line), a class id not
below the number of classes, or an image whose folder names no class.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from . import labels as labels_mod
from . import results
from .errors import Effv2nbError


@dataclass
class TopK:
    images: int
    top1: int
    top5: int

    @property
    def top1_rate(self) -> float:
        return 100.0 * self.top1 / self.images if self.images else 0.0

    @property
    def top5_rate(self) -> float:
        return 100.0 * self.top5 / self.images if self.images else 0.0

    def line(self) -> str:
        return f"top1_rate: {fmt_rate(self.top1_rate)} top5_rate: {fmt_rate(self.top5_rate)}"


def fmt_rate(x: float) -> str:
    s = f"{x:.3f}".rstrip("0").rstrip(".")
    return s or "0"


def ground_truth(image_path: str, labels) -> int | None:
    """Class index named by the parent folder of ``image_path`` (synset, name or index), else None."""
    parent = PurePath(image_path.replace("\\", "/")).parent.name
    return labels.index_of(parent) if parent else None


def evaluate_records(records, labels, source="<results>") -> TopK:
    if not records:
        raise Effv2nbError("result file holds no results", source)
    top1 = top5 = 0
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
            folder = PurePath(r.path).parent.name or "(none)"
            raise Effv2nbError(
                f"cannot tell the true class of {r.path}: folder '{folder}' is not a synset, a class name "
                f"of {labels.source or 'the labels'} or an index", source, f"line {r.line}")
        top1 += int(r.ids[0] == gt)
        top5 += int(gt in r.ids[:5])
    return TopK(len(records), top1, top5)


def evaluate_file(path, label_txt=None) -> TopK:
    labels = labels_mod.from_txt(label_txt) if label_txt else labels_mod.imagenet()
    return evaluate_records(results.read(path), labels, path)


def add_arguments(parser):
    parser.add_argument("result_txt", metavar="RESULT.txt", help="result file written by infer or npz-decode")
    parser.add_argument("--label-txt", default=None,
                        help="class names, one per line in index order (default: ImageNet-1k from timm)")


def run(args) -> int:
    print(evaluate_file(args.result_txt, args.label_txt).line())
    return 0
