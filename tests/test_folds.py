"""Disjoint folds and even picks (effv2nb.data.folds), and the compile sampler that uses them."""
import shutil
from collections import Counter

import pytest

from helpers import shipped_config

from effv2nb.compile import calibration
from effv2nb.formats import build_config as config
from effv2nb.data import folds
from effv2nb.core.errors import Effv2nbError
from effv2nb.data.labels import from_txt
from effv2nb.core.settings import DIGITS_DIR

LABELS = from_txt(DIGITS_DIR / "labels.txt")


def _names(split):
    return {k: sorted(s.path.relative_to(s.path.parents[1]).as_posix() for s in v) for k, v in split.folds.items()}


def test_three_way_split_is_disjoint_stable_and_covers_every_class(tmp_path):
    a = folds.make_split(DIGITS_DIR / "val", LABELS)
    assert a.overlap() == 0 and sum(a.counts().values()) == 400
    for fold in folds.FOLDS:
        assert set(Counter(s.label for s in a[fold])) == set(range(10)), fold
    copy = tmp_path / "elsewhere" / "val"
    shutil.copytree(DIGITS_DIR / "val", copy)
    b = folds.make_split(copy, LABELS)
    assert _names(a) == _names(b)          # same files in the same folds, wherever the folder lies
    assert a.line() == "split: calibration 80 selection 160 test 160 overlap 0" or a.line().endswith("overlap 0")


def test_adding_an_image_to_one_class_moves_no_image_of_another(tmp_path):
    root = tmp_path / "val"
    shutil.copytree(DIGITS_DIR / "val", root)
    before = _names(folds.make_split(root, LABELS))
    shutil.copy(next((root / "3").iterdir()), root / "3" / "extra.png")
    after = _names(folds.make_split(root, LABELS))
    for fold in folds.FOLDS:
        assert [n for n in before[fold] if not n.startswith("3/")] == [n for n in after[fold] if not n.startswith("3/")]


def test_a_separate_calibration_folder_splits_the_rest_in_two():
    s = folds.make_split(DIGITS_DIR / "val", LABELS, DIGITS_DIR / "calib")
    c = s.counts()
    assert c["calibration"] == 300 and c["selection"] + c["test"] == 400 and s.overlap() == 0
    assert abs(c["selection"] - c["test"]) <= 20


def test_calibrating_on_test_images_is_refused_unless_asked_by_name(tmp_path):
    calib = tmp_path / "calib" / "0"
    calib.mkdir(parents=True)
    s = folds.make_split(DIGITS_DIR / "val", LABELS, DIGITS_DIR / "calib")
    leaked = s["test"][0].path
    (calib / leaked.name).symlink_to(leaked)
    with pytest.raises(Effv2nbError, match="test fold"):
        folds.make_split(DIGITS_DIR / "val", LABELS, tmp_path / "calib")
    allowed = folds.make_split(DIGITS_DIR / "val", LABELS, tmp_path / "calib", allow_test_calibration=True)
    assert allowed.overlap() == 1 and allowed.line().endswith("overlap 1")


def test_first_is_the_vendors_pick_and_spread_sees_every_class():
    files = sorted((DIGITS_DIR / "calib").rglob("*.png"))
    first, spread = folds.pick(files, 50, "first"), folds.pick(files, 50, "spread")
    assert len(first) == len(spread) == 50
    assert {p.parent.name for p in first} <= {"0", "1"}
    assert {p.parent.name for p in spread} == {str(i) for i in range(10)}
    with pytest.raises(Effv2nbError):
        folds.pick(files, 5, "random")


def test_the_sampler_key_drives_compile_calibration(tmp_path):
    spread_cfg, _ = config.load_build_config(shipped_config(tmp_path, **{"dataset.sampler.get_data_num": 20}))
    assert spread_cfg.dataset.sampler.pick == "spread"
    assert len({p.parent.name for p in calibration.calibration_files(spread_cfg, limit=20)}) == 10
    vendor_cfg, _ = config.load_build_config(shipped_config(tmp_path, **{"dataset.sampler.pick": "first"}))
    assert {p.parent.name for p in calibration.calibration_files(vendor_cfg, limit=20)} == {"0"}
    errors, _ = config.validate_build({**spread_cfg.to_dict(), "dataset": {
        **spread_cfg.to_dict()["dataset"], "sampler": {"pick": "shuffle"}}})
    assert any("dataset.sampler.pick" in str(e) for e in errors)


def test_one_image_per_class_splits_across_classes(tmp_path):
    """An ImageNet sample set: 16 synsets, one JPEG each (notebook 04's 20/80 split and the 3-way split)."""
    from imagenet_path import synset_folder

    from effv2nb.data.datasets import folder_samples
    from effv2nb.data.labels import imagenet

    root = synset_folder(tmp_path / "val", classes=16, per_class=1)
    samples = folder_samples(root, imagenet())
    assert len(samples) == 16
    two = folds.split_samples(root, samples, {"calibration": 0.2, "test": 0.8})
    assert {k: len(v) for k, v in two.items()} == {"calibration": 3, "test": 13}
    assert not {s.path for s in two["calibration"]} & {s.path for s in two["test"]}
    assert len({s.label for s in two["calibration"]}) == 3          # across classes
    calib = folds.materialize(two["calibration"], tmp_path / "calibration")
    assert len(list(calib.rglob("*.JPEG"))) == 3
    three = folds.make_split(root, imagenet())
    assert all(three.counts()[k] > 0 for k in folds.FOLDS) and three.overlap() == 0
    assert sum(three.counts().values()) == 16
    assert _names(three) == _names(folds.make_split(root, imagenet()))   # deterministic


def test_too_few_images_for_the_folds_is_one_line(tmp_path):
    from imagenet_path import synset_folder

    from effv2nb.data.datasets import folder_samples
    from effv2nb.data.labels import imagenet

    root = synset_folder(tmp_path / "val", classes=2, per_class=1)
    with pytest.raises(Effv2nbError) as err:
        folds.split_samples(root, folder_samples(root, imagenet()), {"calibration": 0.2, "selection": 0.4,
                                                                      "test": 0.4})
    msg = str(err.value)
    assert "\n" not in msg and "2 labelled image(s) cannot fill 3 folds" in msg and "at least 1 image" in msg


def test_an_empty_fold_is_still_a_folder(tmp_path):
    assert folds.materialize([], tmp_path / "empty").is_dir()
