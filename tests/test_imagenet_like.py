"""The ImageNet-like folder maker: synset folders, ImageNet's sizes, photo-sized JPEGs, deterministic."""
import hashlib

import numpy as np
from PIL import Image

from effv2nb.data.datasets import list_images
from effv2nb.data.imagenet_like import SIZES, make_folder
from effv2nb.data.labels import imagenet, is_synset


def _digest(root):
    return hashlib.sha256(b"".join(p.read_bytes() for p in list_images(root))).hexdigest()


def test_one_image_per_class_in_real_synset_folders(tmp_path):
    root = make_folder(tmp_path / "val", 24)
    files = list_images(root)
    assert len(files) == 24
    folders = sorted({p.parent.name for p in files})
    assert len(folders) == 24 and all(is_synset(f) for f in folders)
    assert folders == sorted(imagenet().synsets[:24])
    assert all(p.name.startswith("ILSVRC2012_val_") and p.suffix == ".JPEG" for p in files)


def test_imagenet_sizes_and_photo_sized_files(tmp_path):
    root = make_folder(tmp_path / "val", 30, classes=3)
    files = list_images(root)
    assert len({p.parent.name for p in files}) == 3
    sizes = {Image.open(p).size for p in files}
    assert sizes <= set(SIZES) and (500, 375) in sizes and len(sizes) >= 3
    kb = np.array([p.stat().st_size for p in files]) / 1e3
    assert 80 < kb.mean() < 250, kb.mean()                 # a photo's size at quality 90, not a flat colour's
    flat = tmp_path / "flat.jpg"
    Image.new("RGB", (500, 375), (120, 90, 60)).save(flat, quality=90)
    assert kb.min() > 10 * flat.stat().st_size / 1e3


def test_deterministic_and_resumable(tmp_path):
    a = make_folder(tmp_path / "a", 12, seed=5)
    b = tmp_path / "b"
    make_folder(b, 5, seed=5)                              # an interrupted call ...
    make_folder(b, 12, seed=5)                             # ... goes on and gives the same bytes
    assert _digest(a) == _digest(b)
    assert _digest(make_folder(tmp_path / "c", 12, seed=6)) != _digest(a)
