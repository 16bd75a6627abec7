"""The npz path (docs/vendor-files.md, section "npz path"): image2npz -> vamp stand-in -> npz-decode -> eval-topk."""

import numpy as np
import pytest

from effv2nb.model import models
from effv2nb.device import npz, runtime
from effv2nb.formats.vdsp import generate_vdsp
from effv2nb.cli.main import main
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DIGITS_DIR


def test_npz_roundtrip_gives_the_same_figures_as_infer(tmp_path, capsys):
    from effv2nb.export.onnx_export import export_onnx
    model = models.load("tiny")
    onnx_path = export_onnx(model, tmp_path / "mod.onnx")
    src = tmp_path / "val"
    for c in ("2", "8"):
        (src / c).mkdir(parents=True)
        for f in sorted((DIGITS_DIR / "val" / c).iterdir())[:6]:
            (src / c / f.name).write_bytes(f.read_bytes())
    dl = tmp_path / "npz.txt"
    assert main(["image2npz", "--dataset-path", str(src), "--target-path", str(tmp_path / "npz"),
                 "--text-path", str(dl)]) == 0
    lines = dl.read_text().splitlines()
    assert len(lines) == 12 and all(l.startswith("/") and l.endswith(".npz") for l in lines)
    with np.load(lines[0]) as z:
        assert z["input_0"].dtype == np.uint8 and z["input_0"].shape == (3, 64, 64)
    runner = runtime.OrtRunner(onnx_path)
    vdsp = generate_vdsp(model)
    npz.run_datalist(runner, dl, tmp_path / "out", vdsp, batch=5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[0] == "output_000000.npz"
    res = tmp_path / "result.txt"
    assert main(["npz-decode", str(dl), str(tmp_path / "out"), str(res), str(DIGITS_DIR / "labels.txt")]) == 0
    capsys.readouterr()
    assert main(["eval-topk", str(res), "--label-txt", str(DIGITS_DIR / "labels.txt")]) == 0
    assert capsys.readouterr().out.strip() == "top1_rate: 100 top5_rate: 100"
    # same top-1 as the image path
    from effv2nb.device import infer
    from effv2nb.formats import result_file as results
    preds, _ = infer.run_folder(runner, src, vdsp, mode="sync", batch=4, progress=False)
    assert [r.ids[0] for r in results.read(res)] == [p.ids[0] for p in preds]


def test_natural_order_and_count_mismatch(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for i in (10, 2, 1):
        np.savez(out / f"output_{i}.npz", output_0=np.zeros(3, np.float32))
    assert [p.name for p in npz.output_files(out)] == ["output_1.npz", "output_2.npz", "output_10.npz"]
    dl = tmp_path / "dl.txt"
    dl.write_text("/a/0/x.npz\n")
    with pytest.raises(Effv2nbError, match="3 output npz files for 1 datalist lines"):
        npz.npz_decode(dl, out, tmp_path / "r.txt")
    np.savez(out / "output_1.npz", scores=np.zeros(3))
    with pytest.raises(Effv2nbError, match="no key 'output_0'"):
        npz._load_npz(out / "output_1.npz", "output_0")
