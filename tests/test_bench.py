"""bench: the vamp-like runner and the interleaved comparison work (speed itself is never asserted)."""
import re

import pytest

from effv2nb.model import models
from effv2nb.cli.main import main
from effv2nb.export.onnx_export import export_onnx
from effv2nb.core.settings import DATA_DIR


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    d = tmp_path_factory.mktemp("ws") / "tiny_fp32"
    export_onnx(models.load("tiny"), d / "mod.onnx")
    return str(d / "mod")


def test_vamp_like_run(prefix, capsys):
    assert main(["bench", "--model-prefix", prefix, "--iterations", "3", "--instances", "2", "-b", "2", "-s", "3,64,64"]) == 0
    out = capsys.readouterr().out
    assert "instances 2, batch 2, iterations 3" in out
    tput = float(re.search(r"throughput: ([\d.]+) images/s", out).group(1))
    p50, p90, p99 = map(float, re.search(r"p50 ([\d.]+) p90 ([\d.]+) p99 ([\d.]+)", out).groups())
    assert tput > 0 and p50 > 0 and p99 > 0    # the percentiles themselves: test_bench_latency.py


def test_with_device_preprocessing(prefix, capsys):
    vdsp = DATA_DIR / "configs" / "tiny-vdsp_params.json"
    assert main(["bench", "--model-prefix", prefix, "--vdsp-params", str(vdsp), "--iterations", "2"]) == 0
    assert "host vdsp preprocessing" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["-s", "3x64"], "-s: must be C,H,W"),          # the flag as the user wrote it
    (["--shape", "3x64"], "--shape: must be C,H,W"),
    (["-b", "0"], "-b must be at least 1"),
])
def test_bad_arguments_are_one_line(prefix, capsys, argv, needle):
    assert main(["bench", "--model-prefix", prefix, *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_missing_model(tmp_path, capsys):
    assert main(["bench", "--model-prefix", str(tmp_path / "nope" / "mod")]) == 2
    assert "nope" in capsys.readouterr().err


def test_compare_quick_prints_the_three_ratios(capsys):
    assert main(["bench", "--compare", "--model", "tiny", "--quick"]) == 0
    out = capsys.readouterr().out
    found = re.findall(r"^ratio (\S+): ([\d.]+) \(quartiles [\d.]+-[\d.]+, spread [\d.]+-[\d.]+ over (\d+) rounds; "
                       r"per round: ([\d. ]+)\)$", out, flags=re.M)
    ratios = {name: float(v) for name, v, _, _ in found}
    assert set(ratios) == {"ort_fp32/torch_eager", "ort_int8/ort_fp32", "pipeline/model_only"}
    assert all(v > 0 for v in ratios.values())
    assert all(len(per.split()) == int(n) for _, _, n, per in found), "every round's ratio is printed"
    assert re.search(r"^ort_int8_best on this CPU \(ORT's optimized graph\): \d+ of 36 convolutions on integer kernels, "
                     r"\d+ kept in float on purpose, 0 not fused;", out, flags=re.M), out
    for name in ("torch_eager", "ort_fp32", "ort_fp16", "ort_int8_stock", "ort_int8_best"):
        assert re.search(rf"^{name}\s+1\s", out, flags=re.M) and re.search(rf"^{name}\s+8\s", out, flags=re.M)


@pytest.mark.parametrize("flag", ["-i", "-p"])
def test_former_short_options_are_refused_pointing_at_vamp(prefix, capsys, flag):
    """bench's -i / -p meant iterations / instances; the vendor's meanings are vamp's, so they are refused."""
    assert main(["bench", "--model-prefix", prefix, flag, "3"]) == 2
    err = capsys.readouterr().err
    assert "python -m effv2nb vamp" in err and "--iterations" in err and len(err.strip().splitlines()) == 1
