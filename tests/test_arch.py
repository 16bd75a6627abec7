"""effv2nb.model.arch: stage tables read from the models."""
import pytest
import timm
import torch

from effv2nb.model import arch
from effv2nb.model.tiny import build_tiny


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def rw_s():
    return timm.create_model("efficientnetv2_rw_s").eval()


def test_rw_s_table_read_from_model(rw_s):
    rows = arch.stage_table(rw_s, 384)
    assert [r["channels"] for r in rows] == [24, 24, 48, 64, 128, 160, 272, 1792]
    assert [r["layers"] for r in rows] == [1, 2, 4, 4, 6, 9, 15, 1]
    assert [r["stride"] for r in rows] == [2, 1, 2, 2, 2, 1, 2, 1]
    assert [r["expansion"] for r in rows[1:-1]] == [1, 4, 4, 4, 6, 6]
    assert [r["se"] for r in rows[1:-1]] == [None, None, None, 0.25, 0.25, 0.25]
    assert [r["operator"] for r in rows[1:-1]] == ["Fused-MBConv"] * 3 + ["MBConv"] * 3
    assert rows[1]["projection"] is True            # rw keeps a 1x1 projection at expansion 1
    assert [r["feature"] for r in rows] == ["192x192", "192x192", "96x96", "48x48", "24x24", "24x24",
                                            "12x12", "12x12"]


def test_differences_from_paper(rw_s):
    diffs = arch.differences(arch.stage_table(rw_s, 384))
    assert diffs == ["stage 1: Fused-MBConv1+proj instead of Fused-MBConv1",
                     "stage 6: channels 272 instead of 256", "stage 7: channels 1792 instead of 1280"]
    assert arch.differences(arch.PAPER_V2_S) == []


def test_tiny_table_and_format():
    rows = arch.stage_table(build_tiny().eval(), 64)
    assert len(rows) == 7 and rows[1]["operator"] == "Fused-MBConv" and rows[1]["projection"] is False
    assert rows[-2]["feature"] == "4x4"
    text = arch.format_table(rows, "tiny")
    assert "MBConv6" in text and "Fused-MBConv4" in text and "Fused-MBConv1 " in text
    assert "5 block stages instead of 6" in arch.differences(rows)
    both = arch.side_by_side(text, arch.format_table(arch.PAPER_V2_S, "paper"))
    assert both.splitlines()[0].startswith("tiny") and "paper" in both.splitlines()[0]


@pytest.mark.parametrize("name,size", [("tiny", 64), ("tiny", 57), ("efficientnetv2_rw_t", 288)])
def test_block_input_shapes_match_a_forward_pass(name, size):
    model = (build_tiny() if name == "tiny" else timm.create_model(name)).eval()
    seen, hooks = [], []
    for stage in model.blocks:
        for b in stage:
            hooks.append(b.register_forward_pre_hook(lambda m, inp: seen.append(tuple(inp[0].shape))))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    assert [s for _, s in arch.block_input_shapes(model, size)] == seen
