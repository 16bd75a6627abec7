"""The banner every notebook prints first: which model, which weights, which device.

A notebook prints it once: ``show`` records what it printed, and the commands a notebook then runs in
the same process (``export``, ``demo``) print theirs through ``show_once``, which prints a banner only
when it says something new. In a shell every command is a new process and prints its own.
"""
from __future__ import annotations

from effv2nb.core.settings import SIZE_ENV, image_size
from effv2nb.device import vendor_tools as device
from effv2nb.model.models import info


def banner_text(model) -> str:
    i = info(model)
    size = image_size(i.input_size)
    at = f"{size}px" if size == i.input_size else f"{size}px (from {SIZE_ENV}; its own size is {i.input_size}px)"
    lines = [
        f"model:   {i.name} @ {at}, {i.num_classes} classes",
        f"weights: {i.weights}",
        *device.describe().splitlines(),
    ]
    if not i.trained:
        lines.insert(0, "!!! " + i.weights_warning + " !!!")
    width = max(len(s) for s in lines)
    rule = "=" * width
    return "\n".join([rule, *lines, rule])


_SHOWN: set = set()


def show(model) -> str:
    """Print the banner (and return it, for assert cells)."""
    text = banner_text(model)
    print(text)
    _SHOWN.add(text)
    return text


def show_once(model) -> str:
    """Print the banner unless this process has printed the same one already; return it either way."""
    text = banner_text(model)
    if text not in _SHOWN:
        show(model)
    return text
