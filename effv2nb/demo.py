"""``python -m effv2nb demo``: the offline pipeline on the tiny model and the bundled digits.

Last line, always: ``top1_rate: <x> top5_rate: <y>`` (percent, digits validation split).
"""
from __future__ import annotations

from .banner import banner_text
from .models import load
from .predict import classify_folder
from .settings import DIGITS_DIR


def add_arguments(p):
    p.add_argument("--val-dir", default=str(DIGITS_DIR / "val"), help="validation image folder")
    p.add_argument("--weights", default="auto", help="weights for tiny (path, auto or random)")


def run(args) -> int:
    model = load("tiny", weights=args.weights)
    print(banner_text(model))
    top1, top5, n = classify_folder(model, args.val_dir)
    print(f"[PyTorch fp32] {n} validation images")
    print(f"top1_rate: {top1:.2f} top5_rate: {top5:.2f}")
    return 0
