"""Issue 7, images: bad images are refused by name on every path (infer CLI, upload widget,
calibration); odd-but-valid images work on every path; bad folders give one clear line.

Decoding itself is tested in test_images.py; here each case goes through the paths users take.
"""
import os
import shutil

import numpy as np
import pytest

from effv2nb.compile import calibration
from effv2nb.formats import build_config as config, vdsp
from effv2nb.data import images
from effv2nb.device import infer, preprocess, runtime
from effv2nb.model import models
from effv2nb.ui import upload
from effv2nb.cli.main import main
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR
from test_images import GOOD, _bomb_header, _truncated

PREFIX = str(DATA_DIR / "tiny_64")                      # ort runs data/tiny_64.onnx
VDSP = DATA_DIR / "configs" / "tiny-vdsp_params.json"
OPS = config.load_build_config(DATA_DIR / "configs" / "tiny_int8.yaml")[0].dataset.process_ops

BAD = {
    "text.jpg": (lambda: b"hello, I am text with a .jpg name\n", "not an image"),
    "empty.jpg": (lambda: b"", "empty"),
    "trunc.jpg": (lambda: _truncated("JPEG"), "truncated"),
    "trunc.png": (lambda: _truncated("PNG"), "truncated"),
    "huge_30000x30000.png": (_bomb_header, "decompression-bomb"),
}


@pytest.fixture(scope="module")
def tiny():
    return models.load("tiny")


@pytest.fixture(scope="module")
def ort_runner():
    return runtime.open_runner("ort", PREFIX)


def _one_line(msg):
    return "\n" not in msg.strip() and "Traceback" not in msg


def _infer_args(path, out, *extra):
    return ["infer", "--file-path", str(path), "--model-prefix", PREFIX, "--vdsp-params", str(VDSP),
            "--save-dir", str(out), "--no-progress", "--infer-mode", "sync", *extra]


# ---------------------------------------------------------------- bad images
@pytest.mark.parametrize("name", BAD)
def test_bad_image_infer_cli_names_file_and_writes_nothing(name, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes(BAD[name][0]())
    assert main(_infer_args(path, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err and BAD[name][1] in err
    assert _one_line(err), err
    assert not (tmp_path / "out" / "result.txt").exists()


@pytest.mark.parametrize("name", BAD)
def test_bad_image_calibration_names_file(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(BAD[name][0]())
    fn = calibration.build_pipeline(OPS)
    with pytest.raises(Effv2nbError) as exc:
        fn(path)
    assert str(path) in str(exc.value) and BAD[name][1] in str(exc.value) and _one_line(str(exc.value))
    reader = calibration.CalibrationReader([path], OPS)       # what ORT's calibrator calls
    with pytest.raises(Effv2nbError, match=name):
        reader.get_next()


def test_truncated_png_upload_is_one_line(tiny):
    # the other bad uploads: test_upload.py::test_bad_uploads_give_one_line
    res = upload.classify_upload(upload.simulated_upload(_truncated("PNG"), "cut.png", "image/png"), tiny)
    assert not res.ok and "cut.png" in res.message and "truncated" in res.message and _one_line(res.message)


def test_bomb_guard_stays_on():
    from PIL import Image as PILImage

    assert PILImage.MAX_IMAGE_PIXELS is not None and PILImage.MAX_IMAGE_PIXELS <= images.MAX_PIXELS
    with pytest.raises(Effv2nbError, match="decompression-bomb guard"):
        images.decode_image(_bomb_header(), "bomb.png")


# ---------------------------------------------------------------- odd but valid images work
@pytest.mark.parametrize("name", GOOD)
def test_valid_odd_image_works_in_upload(name, tiny):
    res = upload.classify_upload(upload.simulated_upload(GOOD[name](), name), tiny)
    assert res.ok and len(res.predictions) == 5 and res.image.mode == "RGB", res.message


@pytest.mark.parametrize("name", GOOD)
def test_valid_odd_image_works_in_calibration(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(GOOD[name]())
    x = calibration.build_pipeline(OPS)(path)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32 and np.isfinite(x).all()


def test_valid_odd_images_work_in_infer(tmp_path, capsys):
    folder = tmp_path / "odd" / "3"
    folder.mkdir(parents=True)
    for name, make in GOOD.items():
        (folder / name).write_bytes(make())
    assert main(_infer_args(tmp_path / "odd", tmp_path / "out")) == 0, capsys.readouterr().err
    lines = (tmp_path / "out" / "result.txt").read_text().splitlines()
    assert len(lines) == 5 * len(GOOD)


def test_exif_orientation_is_respected_by_preprocessing(tmp_path):
    """A portrait stored landscape + EXIF 6: the host preprocessing sees it upright (blue on top)."""
    from test_images import _exif_rotated_jpeg

    path = tmp_path / "rot.jpg"
    path.write_bytes(_exif_rotated_jpeg())
    v = {"OpConfig": {"OimageWidth": 20, "OimageHeight": 40, "NormaType": "EQUAL",
                      "ColorCvtCode": "NO_CHANGE", "ResizeType": "BILINEAR_CV"}}
    chw = preprocess.apply(v, images.read_image(path))
    top, bottom = chw[:, :15].mean(axis=(1, 2)), chw[:, 25:].mean(axis=(1, 2))
    assert top[2] > 200 and top[0] < 60, "blue half on top after rotation"
    assert bottom[0] > 200 and bottom[2] < 60, "red half below"


# ---------------------------------------------------------------- folders
def test_infer_lists_every_bad_image_and_processes_the_rest(tmp_path, capsys):
    folder = tmp_path / "mixed" / "5"
    folder.mkdir(parents=True)
    good = sorted((DIGITS_DIR / "val" / "5").glob("*.png"))[:3]
    for f in good:
        shutil.copy(f, folder / f.name)
    for name, (make, _) in BAD.items():
        (folder / name).write_bytes(make())
    rc = main(_infer_args(tmp_path / "mixed", tmp_path / "out", "--label-txt", str(DIGITS_DIR / "labels.txt")))
    cap = capsys.readouterr()
    assert rc == 1, "documented: 1 when some images were skipped, results for the others written"
    assert f"skipped {len(BAD)} image(s)" in cap.err and "Traceback" not in cap.err
    for name, (_, reason) in BAD.items():
        line = next(ln for ln in cap.err.splitlines() if name in ln)
        assert reason in line, line
    written = (tmp_path / "out" / "result.txt").read_text()
    assert len(written.splitlines()) == 5 * len(good) and not any(n in written for n in BAD)


def test_folder_without_images(tmp_path, capsys):
    (tmp_path / "empty" / "3").mkdir(parents=True)
    (tmp_path / "empty" / "3" / "notes.txt").write_text("no images here")
    assert main(_infer_args(tmp_path / "empty", tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "no images found" in err and str(tmp_path / "empty") in err and _one_line(err)
    cfg, _ = config.config_from_dict(_int8_raw(tmp_path / "empty"), tmp_path / "c.yaml")
    with pytest.raises(Effv2nbError) as exc:
        calibration.calibration_files(cfg)
    assert exc.value.where == "dataset.path" and "no images" in str(exc.value)


def _int8_raw(dataset):
    raw = config.rebase_paths(config.load_build_config(DATA_DIR / "configs" / "tiny_int8.yaml")[0].to_dict(),
                              DATA_DIR / "configs", "/")
    raw["dataset"]["path"] = str(dataset)
    return raw


def test_unknown_class_folders_infer_works_eval_names_the_folder(tmp_path, capsys):
    folder = tmp_path / "pets" / "cat"
    folder.mkdir(parents=True)
    shutil.copy(next((DIGITS_DIR / "val" / "1").iterdir()), folder / "a.png")
    assert main(_infer_args(tmp_path / "pets", tmp_path / "out")) == 0, "infer needs no classes"
    capsys.readouterr()
    res = tmp_path / "out" / "result.txt"
    assert main(["eval-topk", str(res), "--label-txt", str(DIGITS_DIR / "labels.txt")]) == 2
    err = capsys.readouterr().err
    assert "'cat'" in err and str(res) in err and "line 1" in err and _one_line(err)


def test_symlink_loop_in_dataset_folder(tmp_path, capsys):
    folder = tmp_path / "ds" / "4"
    folder.mkdir(parents=True)
    for f in sorted((DIGITS_DIR / "val" / "4").glob("*.png"))[:2]:
        shutil.copy(f, folder / f.name)
    os.symlink(tmp_path / "ds", folder / "loop")
    os.symlink(folder / "self", folder / "self")          # a link to itself too
    assert main(_infer_args(tmp_path / "ds", tmp_path / "out")) == 0
    assert len((tmp_path / "out" / "result.txt").read_text().splitlines()) == 10
    cfg, _ = config.config_from_dict(_int8_raw(tmp_path / "ds"), tmp_path / "c.yaml")
    assert len(calibration.calibration_files(cfg)) == 2


def test_run_folder_library_path_keeps_going(ort_runner, tmp_path):
    """The notebook/benchmark entry point: bad files land in stats.failed with their reason."""
    paths = []
    for name, (make, _) in BAD.items():
        (tmp_path / name).write_bytes(make())
        paths.append(tmp_path / name)
    paths.append(next((DIGITS_DIR / "val" / "0").iterdir()))
    v = vdsp.load_vdsp(VDSP)
    for mode in ("sync", "async"):
        preds, st = infer.run_folder(ort_runner, paths, v, mode=mode, batch=2, progress=False)
        assert len(preds) == 1 and len(st.failed) == len(BAD)
        assert {p.name for p, _ in st.failed} == set(BAD)
