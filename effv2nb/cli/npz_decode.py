"""``python -m effv2nb npz-decode``: vamp's output npz files to a result file, the vendor's step 5 (notebook 04; ``effv2nb.device.npz``)."""
from __future__ import annotations

from effv2nb.device.npz import npz_decode


def add_arguments(parser):
    parser.add_argument("datalist", help="the datalist image2npz wrote")
    parser.add_argument("output_dir", help="folder of vamp's output npz files (key output_0)")
    parser.add_argument("result_txt", help="result file to write")
    parser.add_argument("label_txt", nargs="?", default=None, help="class names, one per line")


def run(args) -> int:
    out = npz_decode(args.datalist, args.output_dir, args.result_txt, args.label_txt)
    print(f"wrote {out}")
    return 0
