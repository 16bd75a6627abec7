"""Notebook 00, ``train-tiny`` and ``demo``: the tiny model.

``tiny``: a small EfficientNetV2 described as data, built with timm's EfficientNet builder.

Same building blocks as efficientnetv2_rw_t — a ConvBnAct stage, Fused-MBConv
(timm ``EdgeResidual``, ``er``) in the early stages, MBConv (``InvertedResidual``, ``ir``)
with squeeze-excitation later, SiLU everywhere — at a width and depth that train on the
scikit-learn digits on two CPU cores in about a minute.
"""
from __future__ import annotations

from functools import partial

import torch.nn as nn
from timm.models._efficientnet_builder import decode_arch_def, round_channels
from timm.models.efficientnet import EfficientNet

# Same string grammar as timm's own EfficientNetV2 definitions (_gen_efficientnetv2_s).
TINY_ARCH_DEF = [
    ["cn_r1_k3_s1_e1_c16_skip"],       # stage 1: conv3x3 (like rw_t's first stage)
    ["er_r2_k3_s2_e4_c24"],            # stage 2: Fused-MBConv4
    ["er_r2_k3_s2_e4_c32"],            # stage 3: Fused-MBConv4
    ["ir_r3_k3_s2_e4_c64_se0.25"],     # stage 4: MBConv4 + SE
    ["ir_r2_k3_s1_e6_c72_se0.25"],     # stage 5: MBConv6 + SE
]
TINY_STEM = 16
TINY_FEATURES = 256
TINY_SIZE = 64            # native input size (digits upscaled from 8x8)
TINY_CLASSES = 10

TINY_PRETRAINED_CFG = {
    "architecture": "tiny",
    "input_size": (3, TINY_SIZE, TINY_SIZE),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "crop_mode": "center",
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "num_classes": TINY_CLASSES,
    "first_conv": "conv_stem",
    "classifier": "classifier",
}


def build_tiny(num_classes: int = TINY_CLASSES, drop_rate: float = 0.1) -> nn.Module:
    round_chs_fn = partial(round_channels, multiplier=1.0)
    model = EfficientNet(
        block_args=decode_arch_def(TINY_ARCH_DEF),
        num_classes=num_classes,
        num_features=TINY_FEATURES,
        stem_size=TINY_STEM,
        round_chs_fn=round_chs_fn,
        act_layer=nn.SiLU,
        drop_rate=drop_rate,
    )
    model.pretrained_cfg = dict(TINY_PRETRAINED_CFG, num_classes=num_classes)
    model.default_cfg = model.pretrained_cfg
    return model
