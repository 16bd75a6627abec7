"""effv2nb.model.blocks: plain MBConv / Fused-MBConv / SE, and from_timm equivalence on every block."""
import pytest
import timm
import torch
import torch.nn as nn
from timm.models._efficientnet_blocks import (ConvBnAct, DepthwiseSeparableConv, EdgeResidual,
                                              InvertedResidual, SqueezeExcite as TimmSE)

from effv2nb.model import arch, blocks
from effv2nb.core.errors import Effv2nbError
from effv2nb.model.tiny import build_tiny

MODELS = [("tiny", 64), ("efficientnetv2_rw_t", 288), ("efficientnetv2_rw_s", 384), ("efficientnetv2_rw_m", 416)]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name,size", MODELS)
def test_from_timm_matches_every_block(name, size):
    torch.manual_seed(0)
    model = build_tiny() if name == "tiny" else timm.create_model(name)
    blocks.randomize_bn(model, seed=1).eval()
    gen = torch.Generator().manual_seed(0)
    pairs = arch.block_input_shapes(model, size)
    assert len(pairs) == sum(len(s) for s in model.blocks)
    kinds = set()
    for block, shape in pairs:
        x = torch.randn(shape, generator=gen)
        ours = blocks.from_timm(block)
        assert not ours.training
        with torch.no_grad():
            ref, got = block(x), ours(x)
        assert got.shape == ref.shape
        assert (got - ref).abs().max().item() <= 1e-5, (name, type(block).__name__)
        assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in block.parameters())
        kinds.add(type(block).__name__)
    assert {"EdgeResidual", "InvertedResidual"} <= kinds


def test_randomize_bn_is_not_trivial():
    m = blocks.randomize_bn(build_tiny())
    bn = next(x for x in m.modules() if isinstance(x, nn.BatchNorm2d))
    assert bn.running_mean.abs().sum() > 0 and not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def _check(timm_block, shape):
    blocks.randomize_bn(timm_block).eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (blocks.from_timm(timm_block)(x) - timm_block(x)).abs().max() <= 1e-5


def test_depthwise_separable_and_se_variants():
    torch.manual_seed(0)          # the blocks' weights; _check seeds the input
    se = lambda chs, act_layer, **kw: TimmSE(chs, rd_ratio=0.25, act_layer=act_layer, **kw)  # noqa: E731
    _check(DepthwiseSeparableConv(16, 16, act_layer=nn.SiLU), (2, 16, 9, 9))
    _check(DepthwiseSeparableConv(16, 24, stride=2, act_layer=nn.SiLU, se_layer=se), (2, 16, 9, 9))
    _check(EdgeResidual(16, 16, exp_ratio=4, act_layer=nn.SiLU, se_layer=se), (2, 16, 8, 8))
    _check(InvertedResidual(16, 32, dw_kernel_size=5, stride=2, exp_ratio=6, act_layer=nn.SiLU), (1, 16, 11, 11))
    _check(ConvBnAct(8, 8, 3, skip=True, act_layer=nn.SiLU), (1, 8, 6, 6))


def test_unsupported_blocks_raise_one_line_errors():
    with pytest.raises(Effv2nbError, match="unsupported block type"):
        blocks.from_timm(nn.Conv2d(3, 3, 1))
    with pytest.raises(Effv2nbError, match="SiLU"):
        blocks.from_timm(InvertedResidual(8, 8, exp_ratio=4, act_layer=nn.ReLU))


def test_block_structure():
    torch.manual_seed(0)
    mb = blocks.MBConv(32, 32, expansion=4, kernel=3, se_ratio=0.25)
    assert mb.residual and mb.expand.conv.out_channels == 128 and mb.depthwise.conv.groups == 128
    assert mb.se.reduce.out_channels == 8                       # SE sized from the block input
    assert isinstance(mb.project.act, nn.Identity)              # linear projection
    mb1 = blocks.MBConv(16, 24, expansion=1, stride=2, se_ratio=0)
    assert isinstance(mb1.expand, nn.Identity) and not mb1.residual
    f1 = blocks.FusedMBConv(24, 24, expansion=1)                # paper's Fused-MBConv1: one conv
    assert isinstance(f1.project, nn.Identity) and f1.residual
    assert sum(isinstance(m, nn.Conv2d) for m in f1.modules()) == 1
    f4 = blocks.FusedMBConv(24, 48, expansion=4, stride=2)
    assert f4.fused.conv.out_channels == 96 and f4.fused.conv.stride == (2, 2)
    assert f4(torch.randn(1, 24, 16, 16, generator=torch.Generator().manual_seed(0))).shape == (1, 48, 8, 8)
    assert blocks.block_kind(f4) == "Fused-MBConv" and blocks.block_kind(mb) == "MBConv"
