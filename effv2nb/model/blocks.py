"""Notebook 01 (architecture): the building blocks.

EfficientNetV2's building blocks, written plainly — and ``from_timm`` to check them against timm.

Every convolution is followed by BatchNorm; SiLU follows every BatchNorm except the last one of
a block (the 1x1 *projection* is linear, as in MobileNetV2). A block adds its input back
(residual) when stride is 1 and the channel count does not change.

- ``SqueezeExcite``: global average -> 1x1 reduce -> SiLU -> 1x1 expand -> sigmoid -> scale input.
- ``MBConv``: 1x1 expansion -> depthwise kxk -> SE -> 1x1 projection (no expansion conv when
  the expansion ratio is 1: that is the depthwise-separable "MBConv1").
- ``FusedMBConv``: one regular kxk conv replaces expansion + depthwise -> SE if any -> 1x1
  projection; with expansion 1 there is no projection (the kxk conv is the whole block).

``from_timm(block)`` builds the matching block from a timm ``EdgeResidual``,
``InvertedResidual``, ``DepthwiseSeparableConv`` or ``ConvBnAct`` and copies its weights.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from effv2nb.core.errors import Effv2nbError


def make_divisible(v: float, divisor: int = 8) -> int:
    """Channel rounding used by EfficientNet: nearest multiple of 8, never more than 10 % down."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBN(nn.Sequential):
    """Conv kxk (no bias, 'same'-style padding k//2) -> BatchNorm -> SiLU (unless ``act=False``)."""

    def __init__(self, in_ch, out_ch, kernel=1, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.SiLU() if act else nn.Identity()


class SqueezeExcite(nn.Module):
    """Re-weight channels by a gate computed from their global average."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = nn.SiLU()
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


def _se(channels, in_ch, se_ratio, se_ch):
    # EfficientNet sizes the squeeze from the block's *input* channels: round(in_ch * se_ratio)
    if not se_ratio and not se_ch:
        return nn.Identity()
    return SqueezeExcite(channels, se_ch or max(1, round(in_ch * se_ratio)))


class MBConv(nn.Module):
    """1x1 expansion -> depthwise kxk (carries the stride) -> SE -> 1x1 linear projection."""

    def __init__(self, in_ch, out_ch, expansion=4, kernel=3, stride=1, se_ratio=0.25,
                 mid_ch=None, se_ch=None, residual=None):
        super().__init__()
        mid = mid_ch or make_divisible(in_ch * expansion)
        self.expand = ConvBN(in_ch, mid, 1) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.se = _se(mid, in_ch, se_ratio, se_ch)
        self.project = ConvBN(mid, out_ch, 1, act=False)
        self.residual = (stride == 1 and in_ch == out_ch) if residual is None else residual

    def forward(self, x):
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return y + x if self.residual else y


class FusedMBConv(nn.Module):
    """Regular kxk conv (expands, carries the stride) -> SE if any -> 1x1 linear projection.

    ``project``: default is "only when expansion != 1" (the paper's Fused-MBConv1 is one conv);
    timm's ``rw`` models keep a projection even at expansion 1, hence the switch.
    """

    def __init__(self, in_ch, out_ch, expansion=4, kernel=3, stride=1, se_ratio=0.0,
                 mid_ch=None, se_ch=None, project=None, residual=None):
        super().__init__()
        project = expansion != 1 if project is None else project
        mid = (mid_ch or make_divisible(in_ch * expansion)) if project else out_ch
        self.fused = ConvBN(in_ch, mid, kernel, stride)
        self.se = _se(mid, in_ch, se_ratio, se_ch)
        self.project = ConvBN(mid, out_ch, 1, act=False) if project else nn.Identity()
        self.residual = (stride == 1 and in_ch == out_ch) if residual is None else residual

    def forward(self, x):
        y = self.project(self.se(self.fused(x)))
        return y + x if self.residual else y


# ----------------------------------------------------------------------------- from timm
def _check_conv(conv, where):
    if type(conv) is not nn.Conv2d:
        raise Effv2nbError(f"{where}: only plain nn.Conv2d is supported, got {type(conv).__name__}")
    k = conv.kernel_size[0]
    if conv.dilation != (1, 1) or conv.padding != (k // 2, k // 2) or conv.kernel_size != (k, k):
        raise Effv2nbError(f"{where}: dilation / asymmetric padding / non-square kernels are not supported")


def _check_act(bn, expect_act: bool, where):
    act = getattr(bn, "act", None)
    has_act = act is not None and not isinstance(act, nn.Identity)
    if has_act != expect_act or (has_act and not isinstance(act, nn.SiLU)):
        raise Effv2nbError(f"{where}: expected {'SiLU' if expect_act else 'no activation'} after BatchNorm, "
                           f"got {type(act).__name__}")


def _copy_conv_bn(dst: ConvBN, conv, bn, where, act=True):
    _check_conv(conv, where)
    _check_act(bn, act, where)
    dst.conv.load_state_dict(conv.state_dict())
    dst.bn.load_state_dict({k: v for k, v in bn.state_dict().items()})
    dst.bn.eps, dst.bn.momentum = bn.eps, bn.momentum


def _copy_se(dst, se, where):
    if isinstance(se, nn.Identity):
        return
    if not (hasattr(se, "conv_reduce") and isinstance(se.act1, nn.SiLU) and isinstance(se.gate, nn.Sigmoid)):
        raise Effv2nbError(f"{where}: only timm SqueezeExcite with SiLU and sigmoid gate is supported")
    dst.reduce.load_state_dict(se.conv_reduce.state_dict())
    dst.expand.load_state_dict(se.conv_expand.state_dict())


def _se_ch(se):
    return None if isinstance(se, nn.Identity) else se.conv_reduce.out_channels


def _no_extras(block, where):
    if getattr(block, "conv_s2d", None) is not None:
        raise Effv2nbError(f"{where}: space-to-depth blocks are not supported")
    if not isinstance(getattr(block, "aa", nn.Identity()), nn.Identity):
        raise Effv2nbError(f"{where}: anti-aliased downsampling is not supported")


@torch.no_grad()
def from_timm(block: nn.Module) -> nn.Module:
    """Build the ``effv2nb.model.blocks`` equivalent of a timm EfficientNet block, weights copied.

    The result is in the same train/eval mode as ``block``. Drop-path is not copied (it is the
    identity in eval mode).
    """
    from timm.models._efficientnet_blocks import (ConvBnAct, DepthwiseSeparableConv, EdgeResidual,
                                                  InvertedResidual)

    name = type(block).__name__
    _no_extras(block, name)
    if isinstance(block, InvertedResidual):        # MBConv
        pw, dw, pwl = block.conv_pw, block.conv_dw, block.conv_pwl
        if pw.kernel_size != (1, 1) or dw.groups != dw.in_channels:
            raise Effv2nbError(f"{name}: only 1x1 expansion and true depthwise conv are supported")
        out = MBConv(pw.in_channels, pwl.out_channels, expansion=pw.out_channels / pw.in_channels,
                     kernel=dw.kernel_size[0], stride=dw.stride[0], mid_ch=pw.out_channels,
                     se_ratio=0, se_ch=_se_ch(block.se), residual=block.has_skip)
        if isinstance(out.expand, nn.Identity):   # expansion ratio exactly 1: keep timm's 1x1 anyway
            out.expand = ConvBN(pw.in_channels, pw.out_channels, 1)
        _copy_conv_bn(out.expand, pw, block.bn1, name + ".conv_pw")
        _copy_conv_bn(out.depthwise, dw, block.bn2, name + ".conv_dw")
        _copy_se(out.se, block.se, name)
        _copy_conv_bn(out.project, pwl, block.bn3, name + ".conv_pwl", act=False)
    elif isinstance(block, DepthwiseSeparableConv):  # MBConv1: no expansion conv
        dw, pw = block.conv_dw, block.conv_pw
        if block.has_pw_act:
            raise Effv2nbError(f"{name}: activation after the projection is not supported")
        out = MBConv(dw.in_channels, pw.out_channels, expansion=1, kernel=dw.kernel_size[0],
                     stride=dw.stride[0], se_ratio=0, se_ch=_se_ch(block.se), residual=block.has_skip)
        _copy_conv_bn(out.depthwise, dw, block.bn1, name + ".conv_dw")
        _copy_se(out.se, block.se, name)
        _copy_conv_bn(out.project, pw, block.bn2, name + ".conv_pw", act=False)
    elif isinstance(block, EdgeResidual):          # Fused-MBConv (always with projection in timm)
        exp, pwl = block.conv_exp, block.conv_pwl
        if exp.groups != 1:
            raise Effv2nbError(f"{name}: grouped expansion conv is not supported")
        out = FusedMBConv(exp.in_channels, pwl.out_channels, expansion=exp.out_channels / exp.in_channels,
                          kernel=exp.kernel_size[0], stride=exp.stride[0], mid_ch=exp.out_channels,
                          se_ratio=0, se_ch=_se_ch(block.se), project=True, residual=block.has_skip)
        _copy_conv_bn(out.fused, exp, block.bn1, name + ".conv_exp")
        _copy_se(out.se, block.se, name)
        _copy_conv_bn(out.project, pwl, block.bn2, name + ".conv_pwl", act=False)
    elif isinstance(block, ConvBnAct):             # Fused-MBConv1 as in the paper: one kxk conv
        conv = block.conv
        if conv.groups != 1:
            raise Effv2nbError(f"{name}: grouped conv is not supported")
        out = FusedMBConv(conv.in_channels, conv.out_channels, expansion=1, kernel=conv.kernel_size[0],
                          stride=conv.stride[0], project=False, residual=block.has_skip)
        _copy_conv_bn(out.fused, conv, block.bn1, name + ".conv")
    else:
        raise Effv2nbError(f"from_timm: unsupported block type {name} "
                           "(EdgeResidual, InvertedResidual, DepthwiseSeparableConv, ConvBnAct)")
    return out.train(block.training)


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (for equivalence tests)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                if m.affine:
                    m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                    m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model


def block_kind(block: nn.Module) -> str:
    """'Fused-MBConv' or 'MBConv', for timm blocks and for the blocks above.

    timm's ``ConvBnAct`` (kxk conv, BN, SiLU, residual) is exactly the paper's Fused-MBConv1.
    """
    name = type(block).__name__
    if name in ("EdgeResidual", "FusedMBConv", "ConvBnAct"):
        return "Fused-MBConv"
    if name in ("InvertedResidual", "DepthwiseSeparableConv", "MBConv"):
        return "MBConv"
    return name
