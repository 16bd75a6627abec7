"""``python -m effv2nb complexity --model NAME [--size N]``: notebook 01's counts (``effv2nb.model.complexity``)."""
from __future__ import annotations

import torch

from effv2nb.model.complexity import count, line


def add_arguments(p):
    from effv2nb.model.models import MODEL_NAMES

    p.add_argument("--model", required=True, help=f"one of {', '.join(MODEL_NAMES)}")
    p.add_argument("--size", type=int, default=None,
                   help="input size in pixels (default: the model's evaluation size)")


def run(args) -> int:
    from effv2nb.model import models
    from effv2nb.core.errors import Effv2nbError

    model = models.load(args.model, weights="random")   # weights do not change the counts
    size = models.info(model).input_size if args.size is None else args.size
    if not 16 <= size <= 2048:
        raise Effv2nbError(f"--size {size}: choose an input size between 16 and 2048 pixels")
    torch.set_num_threads(1)   # one forward pass; 2 threads on a busy 2-core machine are far slower
    print(line(count(model, size)))
    return 0
