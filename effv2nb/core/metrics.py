"""Notebooks 00, 04-06; ``train-tiny``, ``eval-topk``, ``int8-report``: shared scores.

Scores shared by training, evaluation and the int8 analysis: top-k rates, agreement, SQNR."""
from __future__ import annotations

import numpy as np


def topk_rates(scores, targets, k: int = 5):
    """(top-1 %, top-k %) of ``scores`` (N, C) against class indices ``targets`` (N,)."""
    scores, targets = np.asarray(scores), np.asarray(targets)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (100.0 * float(np.mean(order[:, 0] == targets)),
            100.0 * float(np.mean((order == targets[:, None]).any(axis=1))))


def agreement(ref, test) -> float:
    """Top-1 agreement in percent."""
    return 100.0 * float(np.mean(np.argmax(ref, axis=1) == np.argmax(test, axis=1)))


def sqnr_db(ref, test) -> float:
    """Signal-to-quantization-noise ratio of ``test`` against ``ref`` in dB (inf when identical)."""
    ref = np.asarray(ref, dtype=np.float64)
    noise = float(np.sum((ref - np.asarray(test, dtype=np.float64)) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return 10.0 * np.log10(signal / noise)
