"""Notebook 03, ``python -m effv2nb config check`` and every command reading the vendor's files: number limits.

Numbers read from users' files: finite, and not too large for the field they go into.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e400`` (as ``inf``) as numbers, and YAML reads
``.nan`` and ``.inf``; neither is a value any setting of the vendor's files can mean. ``non_finite``
walks a loaded document and names every such value by its key path (``OpConfig.Mean[0]``), and
every integer too large for a 64-bit field. The validators of the build YAML and of the vdsp JSON
(``effv2nb.formats.build_config``, ``effv2nb.formats.vdsp``) call it first, so ``config check`` and the commands that use
a file refuse the same values with the same message.
"""
from __future__ import annotations

import math

import numpy as np

INT64_MAX = 2 ** 63 - 1
INT32_MAX = 2 ** 31 - 1
FLOAT16_MAX = float(np.finfo(np.float16).max)        # 65504
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_SIDE = 16384   # pixels: no device resizes beyond this; larger sizes are a typo (and would exhaust memory)


def is_number(v) -> bool:
    """An int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_finite_number(v) -> bool:
    return is_number(v) and (isinstance(v, int) or math.isfinite(v))


def shown(v) -> str:
    """A value as a message quotes it: short (a long integer as its first digits and its length)."""
    try:
        text = repr(v)
    except ValueError:          # an integer beyond Python's digit limit for str()
        return "a very long integer"
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} digits)"


def non_finite(data, prefix: str = "") -> list:
    """``[(key path, message)]`` for every non-finite float and every integer beyond 64 bits in ``data``."""
    out, seen = [], set()
    stack = [(data, prefix)]         # iterative: a deeply nested document cannot exhaust the stack
    while stack:
        v, where = stack.pop()
        if isinstance(v, (dict, list, tuple)):
            if id(v) in seen:        # YAML anchors can make a document refer to itself
                continue
            seen.add(id(v))
        if isinstance(v, dict):
            stack.extend((x, f"{where}.{k}" if where else str(k)) for k, x in reversed(list(v.items())))
        elif isinstance(v, (list, tuple)):
            stack.extend((x, f"{where}[{i}]") for i, x in reversed(list(enumerate(v))))
        elif isinstance(v, float) and not math.isfinite(v):
            out.append((where or None, f"{shown(v)} is not a finite number"))
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > INT64_MAX:
            out.append((where or None, f"{shown(v)} is too large for any number field (over 64 bits)"))
    return out
