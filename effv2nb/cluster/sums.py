"""Notebook 05, ``int8-report --cluster``: partial scores of a shard, which add up exactly.

A model's scores on a fold are ratios of sums over images: top-1 and top-5 hits, top-1 agreement
with fp32, and the SQNR's two sums, sum(ref^2) and sum((ref - test)^2), over every logit. A shard
returns those sums (counts as integers, the two SQNR sums in float64); ``merge`` adds them, so the
merged rates are the serial run's (the counts exactly, the SQNR to float64 rounding, ~1e-12).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sums:
    n: int = 0
    top1: int = 0
    top5: int = 0
    agree: int = 0
    ref2: float = 0.0
    diff2: float = 0.0
    pred: list = field(default_factory=list)     # top-1 class per image, in order

    @classmethod
    def of(cls, ref, test, targets, k: int = 5) -> "Sums":
        """The sums of logits ``test`` against fp32 ``ref`` and class indices ``targets`` (one shard)."""
        ref64, test64 = np.asarray(ref, dtype=np.float64), np.asarray(test, dtype=np.float64)
        targets = np.asarray(targets)
        order = np.argsort(-np.asarray(test), axis=1, kind="stable")[:, :k]
        return cls(n=len(targets), top1=int(np.sum(order[:, 0] == targets)),
                   top5=int(np.sum((order == targets[:, None]).any(axis=1))),
                   agree=int(np.sum(np.argmax(ref, axis=1) == np.argmax(test, axis=1))),
                   ref2=float(np.sum(ref64 ** 2)), diff2=float(np.sum((ref64 - test64) ** 2)),
                   pred=[int(i) for i in np.argmax(test, axis=1)])

    def merge(self, other: "Sums") -> "Sums":
        return Sums(self.n + other.n, self.top1 + other.top1, self.top5 + other.top5, self.agree + other.agree,
                    self.ref2 + other.ref2, self.diff2 + other.diff2, self.pred + other.pred)

    def rates(self, prefix: str = "") -> dict:
        """``top1``, ``top5``, ``agree`` in percent and ``sqnr_db``, keyed as ``onnx_eval.evaluate_onnx`` keys them."""
        if self.diff2 == 0:
            sqnr = math.inf
        elif self.ref2 == 0:
            sqnr = -math.inf
        else:
            sqnr = 10.0 * math.log10(self.ref2 / self.diff2)
        pct = (lambda c: 100.0 * (c / self.n)) if self.n else (lambda c: float("nan"))   # as metrics.topk_rates
        return {f"{prefix}top1": pct(self.top1), f"{prefix}top5": pct(self.top5),
                f"{prefix}agree{'_fp32' if not prefix else ''}": pct(self.agree), f"{prefix}sqnr_db": sqnr}
