"""effv2nb.model.diagrams: block steps read from the modules, and the figures drawn from them."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import timm  # noqa: E402
import torch.nn as nn  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402

from effv2nb.core.errors import Effv2nbError  # noqa: E402
from effv2nb.model import arch, blocks, diagrams  # noqa: E402
from effv2nb.model.tiny import build_tiny  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def kinds(steps):
    return [s["kind"] for s in steps]


def test_mbconv_with_residual():
    steps = diagrams.block_steps(blocks.MBConv(32, 32, expansion=4, kernel=5, se_ratio=0.25).eval(), (1, 32, 16, 16))
    assert kinds(steps) == ["input", "expand", "depthwise", "se", "project", "op"]
    assert [s["inputs"] for s in steps] == [[], [0], [1], [2], [3], [4, 0]]   # the add takes the block input
    assert steps[1]["label"].startswith("1×1 conv") and "32→128 ch" in steps[1]["label"] and "SiLU" in steps[1]["label"]
    assert steps[2]["label"].startswith("5×5 depthwise conv") and "stride" not in steps[2]["label"]
    assert "128→8→128" in steps[3]["label"]                                      # SE from the input width
    assert "linear" in steps[4]["label"] and "SiLU" not in steps[4]["label"]
    assert steps[-1]["label"] == "+" and steps[-1]["shape"] == (32, 16, 16)
    assert steps[1]["shape"] == (128, 16, 16)


def test_stride_two_has_no_skip_and_shapes_shrink():
    steps = diagrams.block_steps(blocks.MBConv(16, 24, expansion=6, stride=2, se_ratio=0).eval(), (1, 16, 20, 20))
    assert kinds(steps) == ["input", "expand", "depthwise", "project"]     # SE identity and no add
    assert "stride 2" in steps[2]["label"]
    assert steps[2]["shape"] == (96, 10, 10) and steps[-1]["shape"] == (24, 10, 10)
    assert all(s["inputs"] == [i - 1] for i, s in enumerate(steps) if i)


def test_expansion_one_drops_the_identity():
    steps = diagrams.block_steps(blocks.MBConv(24, 24, expansion=1, se_ratio=0.25).eval(), (1, 24, 8, 8))
    assert kinds(steps) == ["input", "depthwise", "se", "project", "op"]
    assert steps[1]["inputs"] == [0] and steps[-1]["inputs"] == [3, 0]


def test_fused_blocks():
    one = diagrams.block_steps(blocks.FusedMBConv(24, 24, expansion=1).eval(), (1, 24, 12, 12))
    assert kinds(one) == ["input", "conv", "op"] and one[1]["label"].startswith("3×3 conv")
    four = diagrams.block_steps(blocks.FusedMBConv(24, 48, expansion=4, stride=2).eval(), (1, 24, 12, 12))
    assert kinds(four) == ["input", "conv", "project"]
    assert "stride 2" in four[1]["label"] and "24→96 ch" in four[1]["label"]
    assert four[-1]["shape"] == (48, 6, 6)


def test_squeeze_excite_inside():
    steps = diagrams.block_steps(blocks.SqueezeExcite(64, 4), (1, 64, 7, 7))
    assert [s["label"].split(",")[0] for s in steps] == ["input", "global average (H", "1×1 conv", "SiLU",
                                                          "1×1 conv", "sigmoid", "×"]
    assert sorted(steps[-1]["inputs"]) == [0, 5]                 # the gate scales the SE's own input
    assert steps[2]["shape"] == (4, 1, 1) and steps[-1]["shape"] == (64, 7, 7)


def test_from_timm_blocks_of_a_real_model():
    model = timm.create_model("efficientnetv2_rw_t").eval()
    shapes = arch.block_input_shapes(model, 96)
    seen = set()
    for block, shape in shapes:
        steps = diagrams.block_steps(blocks.from_timm(block), shape)
        has_skip = any(len(s["inputs"]) == 2 for s in steps)
        assert has_skip == block.has_skip
        seen.add(tuple(kinds(steps)))
    assert ("input", "conv", "op") in seen and ("input", "expand", "depthwise", "se", "project", "op") in seen


def test_unknown_module_is_refused():
    odd = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
    with pytest.raises(Effv2nbError, match="BatchNorm2d"):
        diagrams.block_steps(odd, (1, 3, 4, 4))


def test_draw_blocks_one_box_per_step():
    mb = blocks.MBConv(16, 16, expansion=4, se_ratio=0.25).eval()
    items = {"mb": (mb, (1, 16, 8, 8)), "se": (mb.se, (1, 64, 8, 8))}
    fig = diagrams.draw_blocks(items)
    assert [ax.get_title() for ax in fig.axes] == ["mb", "se"]
    for ax, (block, shape) in zip(fig.axes, items.values()):
        steps = diagrams.block_steps(block, shape)
        boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
        assert len(boxes) == sum(s["label"] not in ("+", "×") for s in steps)
        assert any(t.get_text() == steps[-1]["label"] for t in ax.texts)


def test_stage_layout_rectangles_are_the_table():
    tables = {"tiny": arch.stage_table(build_tiny().eval(), 64),
              "rw_t": arch.stage_table(timm.create_model("efficientnetv2_rw_t").eval(), 64)}
    fig = diagrams.stage_layout(tables)
    for ax, rows in zip(fig.axes, tables.values()):
        rects = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]
        assert [(r.get_width(), r.get_height()) for r in rects] == [(r["layers"], r["channels"]) for r in rows[1:-1]]
        fused = [r["operator"] == "Fused-MBConv" for r in rows[1:-1]]
        assert [r.get_facecolor()[:3] == matplotlib.colors.to_rgb(diagrams.STAGE_COLORS["Fused-MBConv"])
                for r in rects] == fused
    assert "64 px" in fig.axes[0].get_title(loc="left")


def _runs(seeds):
    return [dict(schedule=name, seed=s, seconds=10.0 + 5 * i + s, val_top1=90.0 + i + 0.5 * s, n_val=400)
            for s in seeds for i, name in enumerate(("fixed 64 px", "progressive"))]


def test_progressive_bars_heights_and_spread():
    import numpy as np

    fig = diagrams.progressive_bars(_runs((0, 1, 2)))
    t_ax, acc_ax = fig.axes[:2]
    assert [round(p.get_height(), 6) for p in t_ax.patches] == [11.0, 16.0]
    assert t_ax.get_ylim()[0] == 0                               # time from 0
    assert t_ax.containers and any(c.has_yerr for c in t_ax.containers if hasattr(c, "has_yerr"))
    assert len(t_ax.lines) >= 2                                  # one dot series per schedule
    # top-1: axis cut below the lowest value and marked as cut; whiskers span the seeds (min-max)
    lo, hi = acc_ax.get_ylim()
    assert 0 < lo < 90.0 and hi == 100.0
    assert any("axis cut" in t.get_text() for t in acc_ax.texts)
    spans = sorted(float(np.ptp(seg[:, 1])) for c in acc_ax.collections if hasattr(c, "get_segments")
                   for seg in c.get_segments() if len(seg))
    assert spans == pytest.approx([1.0, 1.0])                    # 90-91 and 91-92: the seeds' range
    bands = [p for p in acc_ax.patches]                          # binomial band: +-1.96 SE of 400 images
    se = 100 * np.sqrt(0.905 * 0.095 / 400)
    assert bands[0].get_height() == pytest.approx(2 * 1.96 * se)
    one = diagrams.progressive_bars(_runs((0,)))
    assert not any(getattr(c, "has_yerr", False) for c in one.axes[0].containers)
    assert "one seed" in one._suptitle.get_text()
