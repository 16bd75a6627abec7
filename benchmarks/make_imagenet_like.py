"""Write an ImageNet-like folder: ``python benchmarks/make_imagenet_like.py DIR N [--seed S] [--classes C]``.

N JPEGs at ImageNet's sizes in synset folders (``effv2nb.data.imagenet_like``), for trying
``infer``, ``eval-topk`` and ``--cluster`` at scale without ImageNet. Re-running resumes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from effv2nb.data.imagenet_like import make_folder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", type=int, default=None, help="synset folders (default min(N, 1000))")
    args = ap.parse_args()
    root = make_folder(args.folder, args.n, seed=args.seed, classes=args.classes, progress=True)
    print(f"wrote {args.n} JPEGs under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
