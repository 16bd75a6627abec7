"""``python -m effv2nb train-tiny``: train ``tiny`` on the digits (notebook 00's weights; ``effv2nb.model.train``)."""
from __future__ import annotations

from pathlib import Path

import torch

from effv2nb.core import atomic
from effv2nb.core.settings import DIGITS_DIR, TINY_WEIGHTS
from effv2nb.data import digits
from effv2nb.model.tiny import TINY_SIZE
from effv2nb.model.train import DEFAULTS, save_weights, train_tiny


def add_arguments(p):
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--out", default=str(TINY_WEIGHTS), help="weights file to write (.safetensors)")
    p.add_argument("--data-dir", default=str(DIGITS_DIR), help="where to export the calib/val image folders")


def run(args) -> int:
    atomic.check_writable(Path(args.out).absolute().parent, "--out")      # before training, not after it
    atomic.check_writable(args.data_dir, "--data-dir")
    torch.set_num_threads(2)
    digits.export_folders(args.data_dir)
    print(f"digits image folders: {args.data_dir}/{{calib,val}}/<label>/*.png")
    model, history = train_tiny(epochs=args.epochs, seed=args.seed)
    res = history[-1]
    meta = {"seed": args.seed, "epochs": args.epochs, "size": TINY_SIZE, "val_top1": res["val_top1"],
            "val_top5": res["val_top5"], "split_seed": digits.SPLIT_SEED}
    digest = save_weights(model, args.out, meta)
    print(f"trained in {res['seconds']:.0f}s; weights {args.out} sha256 {digest}")
    print(f"top1_rate: {res['val_top1']:.2f} top5_rate: {res['val_top5']:.2f}")
    return 0
