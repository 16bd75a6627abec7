"""effv2nb.model.complexity: counts, the vendor's table reconciled, and the CLI line."""
import re

import pytest
import timm

from effv2nb.model import complexity
from effv2nb.cli.main import main
from effv2nb.model.tiny import build_tiny


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", list(complexity.VENDOR_TABLE))
def test_vendor_table_reproduced(name):
    size, vendor_flops, vendor_params = complexity.VENDOR_TABLE[name]
    model = timm.create_model(name).eval()
    res = complexity.count(model, size)
    assert abs(res["vendor_flops"] / 1e9 / vendor_flops - 1) < 0.005
    assert res["flops"] == 2 * res["macs"]
    # the vendor's parameter counter did not see BatchNorm's affine parameters
    assert res["params"] == sum(p.numel() for p in model.parameters())
    seen = complexity.vendor_params(model) / 1e6
    assert abs(seen - vendor_params) < (0.0006 if name != "efficientnetv2_rw_t" else 0.03)
    assert abs(res["params"] / 1e6 - vendor_params) > abs(seen - vendor_params)


def test_stage_breakdown_adds_up():
    model = build_tiny().eval()
    rows = complexity.stage_breakdown(model, 64)
    total = complexity.count(model, 64)
    assert [r["stage"] for r in rows] == ["stem"] + [f"stage {i}" for i in range(1, 6)] + ["head"]
    assert sum(r["params"] for r in rows) == total["params"]
    assert sum(r["macs"] for r in rows) == pytest.approx(total["macs"])
    assert sum(r["mac_share"] for r in rows) == pytest.approx(1.0)


def test_param_breakdown_kinds():
    b = complexity.param_breakdown(build_tiny())
    assert set(b) == {"conv", "se_conv", "bn", "classifier"}
    assert b["classifier"] == 256 * 10 + 10


def test_cli_line(capsys):
    assert main(["complexity", "--model", "tiny", "--size", "64"]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"params_M: \d+\.\d{3} gmacs: \d+\.\d{3} flops_G: \d+\.\d{3} vendor_flops_G: \d+\.\d{3}", out)
    assert out.startswith("params_M: 0.384 ")


def test_cli_errors_are_one_line(capsys):
    assert main(["complexity", "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model") and err.count("\n") == 1
    assert main(["complexity", "--model", "tiny", "--size", "0"]) == 2
