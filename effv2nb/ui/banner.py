"""The banner every notebook prints first: which model, which weights, which device."""
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


def show(model) -> str:
    """Print the banner (and return it, for assert cells)."""
    text = banner_text(model)
    print(text)
    return text
