"""Folder datasets and labels: digits and ImageNet share one code path."""
import os

import pytest
from PIL import Image

from effv2nb.data import labels
from effv2nb.data.datasets import folder_samples, list_images
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DIGITS_DIR


def test_digits_folders_are_complete():
    lab = labels.from_txt(DIGITS_DIR / "labels.txt")
    assert list(lab.names) == [str(i) for i in range(10)]
    val = folder_samples(DIGITS_DIR / "val", lab)
    calib = folder_samples(DIGITS_DIR / "calib", lab)
    assert len(val) == 400 and len(calib) == 300
    assert {s.label for s in val} == set(range(10))
    assert not {s.path.name for s in val} & {s.path.name for s in calib}, "calibration and validation overlap"
    assert all(int(s.folder) == s.label for s in val)


def test_digit_splits_are_disjoint_and_deterministic():
    from effv2nb.data import digits

    a, b = digits.splits(), digits.splits()
    sets = [set(a[k].indices.tolist()) for k in ("train", "calib", "val")]
    assert sum(map(len, sets)) == 1797 and not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert (a["val"].indices == b["val"].indices).all()


def _img(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)


def test_imagenet_synset_folders(tmp_path):
    net = labels.imagenet()
    assert len(net) == 1000 and net.synsets[0] == "n01440764" and net.index_of("n01440764") == 0
    _img(tmp_path / "n01443537" / "a.JPEG")
    _img(tmp_path / "n01440764" / "b.JPEG")
    s = folder_samples(tmp_path, net)
    assert [(x.folder, x.label) for x in s] == [("n01440764", 0), ("n01443537", 1)]


def test_unknown_class_and_empty_folder(tmp_path):
    lab = labels.from_txt(DIGITS_DIR / "labels.txt")
    with pytest.raises(Effv2nbError, match="no images"):
        folder_samples(tmp_path, lab)
    _img(tmp_path / "cat" / "a.png")
    with pytest.raises(Effv2nbError, match="cat"):
        folder_samples(tmp_path, lab)
    assert folder_samples(tmp_path, lab, allow_unknown=True)[0].label is None


def test_symlink_loop_does_not_hang(tmp_path):
    _img(tmp_path / "3" / "a.png")
    os.symlink(tmp_path, tmp_path / "3" / "loop")
    assert [p.name for p in list_images(tmp_path)] == ["a.png"]


def test_suffix_filter_and_missing_folder(tmp_path):
    _img(tmp_path / "1" / "a.png")
    _img(tmp_path / "1" / "b.JPEG")
    assert [p.name for p in list_images(tmp_path, suffix="JPEG")] == ["b.JPEG"]
    with pytest.raises(Effv2nbError, match="no such folder"):
        list_images(tmp_path / "missing")
