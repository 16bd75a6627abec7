"""``python -m effv2nb eval-topk RESULT.txt``: top-1 / top-5 of a result file, as notebooks 04-05 score it (``effv2nb.device.evaluate``)."""
from __future__ import annotations

import sys

from effv2nb.device.evaluate import evaluate_file


def add_arguments(parser):
    parser.add_argument("result_txt", metavar="RESULT.txt", help="result file written by infer or npz-decode")
    parser.add_argument("--label-txt", default=None,
                        help="class names, one per line in index order (default: ImageNet-1k from timm)")


def run(args) -> int:
    result = evaluate_file(args.result_txt, args.label_txt)
    if result.note():
        print(f"note: {args.result_txt}: {result.note()}", file=sys.stderr)
    print(result.line())
    return 0
