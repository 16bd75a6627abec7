"""Notebook 00 (quickstart) and its upload widget: classify one image.

Classify one image with a loaded model, using timm's evaluation transform for its weights."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from effv2nb.model.models import info


@dataclass(frozen=True)
class ClassScore:
    index: int
    label: str
    prob: float


def _transform_for(model):
    """timm's own evaluation transform for the loaded weights (PIL -> tensor), cached on the model.

    At the model's test size, or at ``EFFV2NB_SIZE`` when it is set (``effv2nb.core.settings.image_size``).
    """
    from effv2nb.core.settings import image_size

    size = image_size(info(model).input_size)
    cached = getattr(model, "_effv2nb_transform", None)
    if cached is None or cached[0] != size:
        from effv2nb.device.preprocess import timm_transform

        cached = model._effv2nb_transform = (size, timm_transform(model, size=size).transform)
    return cached[1]


@torch.no_grad()
def classify(model, image: Image.Image, k: int = 5) -> list:
    """Top-``k`` predictions (softmax probabilities) for one RGB image."""
    x = _transform_for(model)(image).unsqueeze(0)
    probs = model(x).softmax(dim=1)[0]
    top = probs.topk(min(k, probs.numel()))
    labels = info(model).labels()
    return [ClassScore(int(i), labels.name(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


@torch.no_grad()
def classify_folder(model, root, batch: int = 50, progress: bool = True):
    """Score an image folder ``ROOT/<class>/<image>``: returns ``(top1 %, top5 %, n)``."""
    from tqdm.auto import tqdm

    from effv2nb.data.datasets import folder_samples
    from effv2nb.data.images import read_image
    from effv2nb.core.metrics import topk_rates

    samples = folder_samples(root, info(model).labels())
    t = _transform_for(model)
    logits = []
    for i in tqdm(range(0, len(samples), batch), desc="classify", disable=not progress):
        x = torch.stack([t(read_image(s.path)) for s in samples[i:i + batch]])
        logits.append(model(x).numpy())
    top1, top5 = topk_rates(np.concatenate(logits), [s.label for s in samples])
    return top1, top5, len(samples)
