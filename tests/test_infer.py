"""infer CLI + folder pipeline: result file, eval-topk vs an independent count, async vs sync, bad images."""
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from effv2nb.device import infer, runtime
from effv2nb.formats.vdsp import generate_vdsp
from effv2nb.model import models
from effv2nb.cli.main import main
from effv2nb.core.settings import DIGITS_DIR


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from effv2nb.export.onnx_export import export_onnx
    root = tmp_path_factory.mktemp("infer")
    model = models.load("tiny")
    export_onnx(model, root / "ws" / "tiny" / "mod.onnx")
    vj = root / "tiny-vdsp.json"
    vj.write_text(json.dumps(generate_vdsp(model)))
    return root, str(root / "ws" / "tiny" / "mod"), vj


def independent_count(path):
    """Top-1/top-5 counted with plain string handling, no effv2nb code."""
    ranks = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        img, rest = line.split(": Relay top-", 1)
        ranks[img].append(int(rest.split(" id: ")[1].split(",")[0]))
    top1 = sum(ids[0] == int(Path(img).parent.name) for img, ids in ranks.items())
    top5 = sum(int(Path(img).parent.name) in ids[:5] for img, ids in ranks.items())
    return len(ranks), 100.0 * top1 / len(ranks), 100.0 * top5 / len(ranks)


def test_infer_then_eval_topk_match_independent_count(setup, tmp_path, capsys):
    root, prefix, vj = setup
    rc = main(["infer", "--file-path", str(DIGITS_DIR / "val"), "--model-prefix", prefix, "--vdsp-params", str(vj),
               "--label-txt", str(DIGITS_DIR / "labels.txt"), "--save-dir", str(tmp_path), "--save-result-txt",
               "result.txt", "--infer-mode", "async", "--batch", "8", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "images/s" in out
    res = tmp_path / "result.txt"
    lines = res.read_text().splitlines()
    assert len(lines) == 400 * 5
    assert " Relay top-0 id: " in lines[0] and ", class name: " in lines[0]
    assert main(["eval-topk", str(res), "--label-txt", str(DIGITS_DIR / "labels.txt")]) == 0
    printed = capsys.readouterr().out.strip()
    n, t1, t5 = independent_count(res)
    assert n == 400
    words = printed.split()
    assert words[0] == "top1_rate:" and words[2] == "top5_rate:"
    assert abs(float(words[1]) - t1) < 1e-3 and abs(float(words[3]) - t5) < 1e-3
    assert t1 >= 99.0


def test_sync_and_async_give_the_same_predictions(setup):
    root, prefix, vj = setup
    r = runtime.open_runner("ort", prefix)
    v = json.loads(vj.read_text())
    a, _ = infer.run_folder(r, DIGITS_DIR / "val" / "3", v, mode="sync", batch=4, progress=False)
    b, _ = infer.run_folder(r, DIGITS_DIR / "val" / "3", v, mode="async", batch=4, progress=False)
    assert [p.ids for p in a] == [p.ids for p in b] and [p.path for p in a] == [p.path for p in b]


def _overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_async_overlaps_decoding_with_inference(mode, monkeypatch):
    """Not a speed test: decoding and the model record when they start and end. In async mode a later
    image is decoded while the model runs (each side waits, up to a generous limit, to see the other
    busy: a pipeline that does not overlap never sees it); in sync mode the two never overlap."""
    import threading
    import time as _time

    paths = sorted((DIGITS_DIR / "val" / "2").glob("*.png"))[:3]
    real_read = infer.read_rgb
    spans = {"decode": [], "run": []}
    running, seen = threading.Event(), threading.Event()
    wait = mode == "async"

    def read(path):
        if wait and path != paths[0]:
            running.wait(10)                 # until the model runs the batch before
        t0 = _time.perf_counter()
        if running.is_set():
            seen.set()
        img = real_read(path)
        spans["decode"].append((t0, _time.perf_counter()))
        return img

    class Runner(runtime.Runner):
        input_size = (64, 64)

        def run(self, batch):
            t0 = _time.perf_counter()
            running.set()
            if wait:
                seen.wait(10)                # until a decode started while this runs
            running.clear()
            spans["run"].append((t0, _time.perf_counter()))
            return np.zeros((len(batch), 10), dtype=np.float32)

    monkeypatch.setattr(infer, "read_rgb", read)
    v = {"OpConfig": {"NormaType": "DIV255", "ColorCvtCode": "NO_CHANGE", "ResizeType": "BILINEAR_CV"}}
    preds, st = infer.run_folder(Runner(), paths, v, mode=mode, batch=1, workers=2, progress=False)
    assert len(preds) == 3 and len(spans["decode"]) == 3 and len(spans["run"]) == 3
    overlapping = [(d, r) for d in spans["decode"] for r in spans["run"] if _overlaps(d, r)]
    if mode == "async":
        assert overlapping, spans
    else:
        assert not overlapping, overlapping


def test_bad_images_are_skipped_and_listed(setup, tmp_path, capsys):
    root, prefix, vj = setup
    (tmp_path / "img" / "5").mkdir(parents=True)
    src = next((DIGITS_DIR / "val" / "5").iterdir())
    (tmp_path / "img" / "5" / "good.png").write_bytes(src.read_bytes())
    (tmp_path / "img" / "5" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "img" / "5" / "empty.jpg").write_bytes(b"")
    rc = main(["infer", "--file-path", str(tmp_path / "img"), "--model-prefix", prefix, "--vdsp-params", str(vj),
               "--save-dir", str(tmp_path / "out"), "--no-progress", "--infer-mode", "sync"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "broken.png" in cap.err and "empty.jpg" in cap.err and "skipped 2" in cap.err
    assert len((tmp_path / "out" / "result.txt").read_text().splitlines()) == 5


def test_single_file_and_errors(setup, tmp_path, capsys):
    root, prefix, vj = setup
    img = next((DIGITS_DIR / "val" / "7").iterdir())
    assert main(["infer", "--file-path", str(img), "--model-prefix", prefix, "--vdsp-params", str(vj),
                 "--save-dir", str(tmp_path), "--no-progress"]) == 0
    assert "top-0: 7" in capsys.readouterr().out
    assert main(["infer", "--file-path", str(img), "--model-prefix", str(tmp_path / "none" / "mod"),
                 "--vdsp-params", str(vj), "--save-dir", str(tmp_path)]) == 2
    assert "compile it first" in capsys.readouterr().err
    assert main(["infer", "--file-path", str(img), "--model-prefix", prefix, "--vdsp-params", str(vj),
                 "--save-dir", str(tmp_path), "--backend", "vsx"]) == 2
    assert "vaststreamx" in capsys.readouterr().err


def test_torch_backend_and_model_only(setup, tmp_path):
    root, prefix, vj = setup
    v = json.loads(vj.read_text())
    r = runtime.open_runner("torch", "torch:tiny")
    preds, st = infer.run_folder(r, DIGITS_DIR / "val" / "1", v, mode="sync", batch=8, progress=False)
    assert all(p.ids[0] == 1 for p in preds) and st.images == len(preds)
    assert infer.model_only(runtime.open_runner("ort", prefix), DIGITS_DIR / "val" / "1", v, batch=8) > 0
