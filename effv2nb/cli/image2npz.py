"""``python -m effv2nb image2npz``: images to uint8 CHW npz files and a datalist, the vendor's step 5 (notebook 04; ``effv2nb.device.npz``)."""
from __future__ import annotations

from effv2nb.device.npz import image2npz


def add_arguments(parser):
    parser.add_argument("--dataset-path", "--dataset_path", dest="dataset_path", required=True, help="image folder DIR/<class folder>/<image>")
    parser.add_argument("--target-path", "--target_path", dest="target_path", required=True, help="output folder of npz files")
    parser.add_argument("--text-path", "--text_path", dest="text_path", required=True, help="datalist to write (one absolute npz path per line)")


def run(args) -> int:
    n, skipped = image2npz(args.dataset_path, args.target_path, args.text_path)
    print(f"wrote {n} npz files under {args.target_path} and the datalist {args.text_path}")
    for p, reason in skipped:
        print(f"  skipped {p}: {reason}")
    return 1 if skipped else 0
