"""python -m effv2nb vamp: the vendor's flags with the vendor's meanings (issue 19); speed itself is never asserted."""
import os
import re
import stat

import numpy as np
import pytest

from effv2nb.cli.main import main
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR
from effv2nb.export.onnx_export import export_onnx
from effv2nb.model import models

VDSP = str(DATA_DIR / "configs" / "tiny-vdsp_params.json")


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    d = tmp_path_factory.mktemp("ws") / "tiny_fp32"
    export_onnx(models.load("tiny"), d / "mod.onnx")
    return str(d / "mod")


def _run(argv, capsys):
    rc = main(["vamp", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_instances_processes_batch_iterations(prefix, capsys):
    rc, out, _ = _run(["-m", prefix, "--vdsp_params", VDSP, "-i", "3", "-p", "2", "-b", "2", "--iterations", "4"],
                      capsys)
    assert rc == 0, out
    assert "instances 3, processes 2, batch 2, iterations 4, shape [3, 64, 64]" in out
    tput = float(re.search(r"throughput: ([\d.]+) images/s", out).group(1))
    p50, p90, p99 = map(float, re.search(r"p50 ([\d.]+) p90 ([\d.]+) p99 ([\d.]+)", out).groups())
    assert tput > 0 and 0 < p50 <= p90 <= p99


def test_long_spellings_are_the_same_flags(prefix, capsys):
    rc, out, _ = _run(["-m", prefix, "--instance", "2", "--processes", "1", "--batch_size", "3", "--iterations", "2",
                       "-s", "[3,64,64]"], capsys)
    assert rc == 0 and "instances 2, processes 1, batch 3, iterations 2, shape [3, 64, 64]" in out


@pytest.mark.parametrize("vdsp", [False, True])
def test_a_shape_not_the_models_is_named_in_one_line(prefix, capsys, vdsp):
    rc, out, err = _run(["-m", prefix, "-s", "[3,224,224]", "--iterations", "1",
                         *(["--vdsp_params", VDSP] if vdsp else [])], capsys)
    assert rc == 0
    notes = [ln for ln in err.splitlines() if ln.startswith("note: -s [3,224,224]")]
    assert len(notes) == 1 and "running [3,64,64]" in notes[0], err
    assert ("224x224 frames" in notes[0]) == vdsp
    assert "shape [3, 64, 64]" in out


@pytest.mark.parametrize("argv,needle", [
    (["-b", "0"], "error: -b: must be at least 1"),
    (["--batch_size", "0"], "error: --batch_size: must be at least 1"),
    (["-i", "0"], "error: -i: must be at least 1"),
    (["-s", "3x64"], "error: -s: must be C,H,W"),
    (["-s", "[1,64,64]"], "-s: [1, 64, 64]: the model takes 3 channels"),
    (["--datalist", "x.txt"], "--datalist and --path_output go together"),
])
def test_bad_values_are_one_line_naming_the_flag_as_written(prefix, capsys, argv, needle):
    rc, _, err = _run(["-m", prefix, *argv], capsys)
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_datalist_writes_one_output_per_line_for_npz_decode(prefix, tmp_path, capsys):
    src = tmp_path / "val"
    for c in ("3", "7"):
        (src / c).mkdir(parents=True)
        for f in sorted((DIGITS_DIR / "val" / c).iterdir())[:4]:
            (src / c / f.name).write_bytes(f.read_bytes())
    dl = tmp_path / "npz.txt"
    assert main(["image2npz", "--dataset_path", str(src), "--target_path", str(tmp_path / "npz"),
                 "--text_path", str(dl)]) == 0
    rc, out, _ = _run(["-m", prefix, "--vdsp_params", VDSP, "-i", "3", "-b", "3", "--datalist", str(dl),
                       "--path_output", str(tmp_path / "out")], capsys)
    assert rc == 0 and "wrote 8 output npz files" in out
    outs = sorted((tmp_path / "out").glob("output_*.npz"))
    assert [p.name for p in outs] == [f"output_{i:06d}.npz" for i in range(8)]
    # the instance threads wrote each line's scores: the same as one runner, line by line
    from effv2nb.device import npz, runtime
    from effv2nb.formats.vdsp import load_vdsp
    npz.run_datalist(runtime.OrtRunner(prefix + ".onnx"), dl, tmp_path / "ref", load_vdsp(VDSP), batch=1)
    for p in outs:
        with np.load(p) as a, np.load(tmp_path / "ref" / p.name) as b:
            np.testing.assert_allclose(a["output_0"], b["output_0"], rtol=1e-5, atol=1e-6)
    res = tmp_path / "result.txt"
    assert main(["npz-decode", str(dl), str(tmp_path / "out"), str(res), str(DIGITS_DIR / "labels.txt")]) == 0
    capsys.readouterr()
    assert main(["eval-topk", str(res), "--label-txt", str(DIGITS_DIR / "labels.txt")]) == 0
    assert re.fullmatch(r"top1_rate: [\d.]+ top5_rate: [\d.]+\n", capsys.readouterr().out)


def test_the_vendors_vamp_runs_the_line_as_written(prefix, tmp_path, monkeypatch, capsys):
    fake = tmp_path / "bin" / "vamp"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'argv.txt'}\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    rc, out, _ = _run(["-m", prefix, "-i", "8", "-p", "1", "-b", "2", "-s", "[3,224,224]"], capsys)
    assert rc == 3 and "running the vendor's vamp" in out
    assert (tmp_path / "argv.txt").read_text().split() == ["-m", prefix, "-i", "8", "-p", "1", "-b", "2",
                                                           "-s", "[3,224,224]"]
