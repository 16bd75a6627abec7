"""Classify one image with a loaded model, using timm's evaluation transform for its weights."""
from __future__ import annotations

from dataclasses import dataclass
import torch
from PIL import Image

from .models import info


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    prob: float


def eval_transform(model):
    """timm's own evaluation transform for this model's weights (resize, crop, normalise)."""
    from timm.data import create_transform

    i = info(model)
    return create_transform(
        input_size=(3, i.input_size, i.input_size), interpolation=i.interpolation,
        mean=i.mean, std=i.std, crop_pct=i.crop_pct, crop_mode="center")


def _transform_for(model):
    t = getattr(model, "_effv2nb_transform", None)
    if t is None:
        t = model._effv2nb_transform = eval_transform(model)
    return t


@torch.no_grad()
def classify(model, image: Image.Image, k: int = 5) -> list:
    """Top-``k`` predictions (softmax probabilities) for one RGB image."""
    x = _transform_for(model)(image).unsqueeze(0)
    probs = model(x).softmax(dim=1)[0]
    top = probs.topk(min(k, probs.numel()))
    labels = info(model).labels()
    return [Prediction(int(i), labels.name(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


@torch.no_grad()
def classify_folder(model, root, batch: int = 50, progress: bool = True):
    """Score an image folder ``ROOT/<class>/<image>``: returns ``(top1 %, top5 %, n)``."""
    from tqdm.auto import tqdm

    from .datasets import folder_samples
    from .images import read_image

    samples = folder_samples(root, info(model).labels())
    t = _transform_for(model)
    hit1 = hit5 = 0
    for i in tqdm(range(0, len(samples), batch), desc="classify", disable=not progress):
        chunk = samples[i:i + batch]
        x = torch.stack([t(read_image(s.path)) for s in chunk])
        top5 = model(x).topk(5, dim=1).indices
        y = torch.tensor([s.label for s in chunk])
        hit1 += int((top5[:, 0] == y).sum())
        hit5 += int((top5 == y[:, None]).any(1).sum())
    n = len(samples)
    return 100.0 * hit1 / n, 100.0 * hit5 / n, n
