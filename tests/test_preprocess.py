"""The host vdsp fusion op against independent references, on random images of odd sizes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from PIL import Image

from effv2nb.device import preprocess
from effv2nb.formats.vdsp import generate_vdsp
from effv2nb.core.errors import Effv2nbError

MEAN = [0.485107421875, 0.4560546875, 0.406005859375]
STD = [0.22900390625, 0.2239990234375, 0.2249755859375]


def vdsp(**over):
    cfg = {"OimageWidth": 32, "OimageHeight": 32, "ResizeWidth": 32, "ResizeHeight": 32, "CropX": 0, "CropY": 0,
           "Mean": MEAN, "Std": STD, "NormaType": "DIV255_MINUSMEAN_DIVSTD", "ColorCvtCode": "NO_CHANGE",
           "ResizeType": "BILINEAR_CV", "IimageFormat": "RGB_PLANAR"}
    cfg.update(over)
    return {"OpType": "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR", "OpConfig": cfg}


def torch_bilinear(img_hwc, w, h):
    t = torch.from_numpy(img_hwc.astype(np.float32)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=False)[0].numpy()


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 97), st.integers(3, 97), st.integers(5, 80), st.integers(5, 80), st.integers(0, 2**31 - 1))
def test_bilinear_cv_matches_torch_reference(ih, iw, oh, ow, seed):
    img = np.random.default_rng(seed).integers(0, 256, (ih, iw, 3), dtype=np.uint8)
    ours = preprocess.resize_bilinear_cv(img, ow, oh).transpose(2, 0, 1)
    ref = torch_bilinear(img, ow, oh)
    assert np.abs(ours - ref).max() < 1e-2   # on the 0..255 scale (float32 index arithmetic differs slightly)


def test_full_op_matches_reference_odd_sizes():
    rng = np.random.default_rng(1)
    worst = 0.0
    for ih, iw in [(37, 51), (101, 33), (7, 9), (64, 64)]:
        img = rng.integers(0, 256, (ih, iw, 3), dtype=np.uint8)
        v = vdsp(ResizeWidth=41, ResizeHeight=45, OimageWidth=31, OimageHeight=29, CropX=3, CropY=7,
                 ColorCvtCode="RGB2BGR")
        ours = preprocess.apply(v, img)
        ref = torch_bilinear(img, 41, 45)[:, 7:7 + 29, 3:3 + 31][::-1] / 255.0
        ref = (ref - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]   # mean/std follow output order
        assert ours.shape == (3, 29, 31) and ours.dtype == np.float32
        worst = max(worst, float(np.abs(ours - ref).max()))
    assert worst < 1e-4, worst


@pytest.mark.parametrize("norma,expect", [
    ("DIV255_MINUSMEAN_DIVSTD", lambda x, m, s: (x / 255 - m) / s),
    ("MINUSMEAN_DIVSTD", lambda x, m, s: (x - m) / s),
    ("EQUAL", lambda x, m, s: x),
    ("DIV255", lambda x, m, s: x / 255),
])
def test_every_norma_type(norma, expect):
    img = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    m, s = ([123.6875, 116.25, 103.5], [58.375, 57.125, 57.375]) if norma == "MINUSMEAN_DIVSTD" else (MEAN, STD)
    v = vdsp(OimageWidth=16, OimageHeight=16, ResizeWidth=16, ResizeHeight=16, NormaType=norma, Mean=m, Std=s)
    out = preprocess.apply(v, img)
    ref = expect(img.transpose(2, 0, 1).astype(np.float64), np.array(m)[:, None, None], np.array(s)[:, None, None])
    assert np.abs(out - ref).max() < 1e-4


def test_pillow_resize_type_is_pillows_bilinear():
    img = np.random.default_rng(3).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    v = vdsp(ResizeType="BILINEAR_PILLOW", NormaType="EQUAL")
    ref = np.asarray(Image.fromarray(img).resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    assert np.array_equal(preprocess.apply(v, img), ref.transpose(2, 0, 1))
    # and it is not the OpenCV-style result when shrinking (Pillow antialiases)
    assert not np.allclose(preprocess.apply(v, img), preprocess.apply(vdsp(NormaType="EQUAL"), img), atol=1)


def test_minimal_file_uses_model_size_and_centre_crop():
    v = {"OpType": "FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR",
         "OpConfig": {"IimageFormat": "RGB_PLANAR", "ResizeType": "BILINEAR_CV", "NormaType": "EQUAL",
                      "ColorCvtCode": "BGR2RGB"}}
    img = np.random.default_rng(4).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = preprocess.apply(v, img, model_size=24)
    assert out.shape == (3, 24, 24)
    with pytest.raises(Effv2nbError, match="output size unknown"):
        preprocess.apply(v, img)


@pytest.mark.parametrize("over,msg", [
    ({"NormaType": "BOGUS"}, "NormaType"),
    ({"Mean": [1, 2]}, "Mean"),
    ({"Std": [1, 0, 1]}, "Std"),
    ({"CropX": 10}, "does not fit"),
    ({"ResizeType": "NEAREST"}, "ResizeType"),
])
def test_bad_params_are_one_line_errors(over, msg):
    with pytest.raises(Effv2nbError, match=msg):
        preprocess.resolve(vdsp(**over))


def test_shipped_vendor_file_and_timm_transform_differ_for_rw_t():
    from effv2nb.core.settings import REPO_DIR
    import json
    path = REPO_DIR / "data" / "configs" / "timm-efficientnetv2_rw_t-vdsp_params.json"
    if not path.is_file():
        pytest.skip("shipped vdsp files not present")
    v = json.loads(path.read_text())
    op = preprocess.resolve(v)
    assert (op.out_w, op.resize_w, op.resize_type) == (288, 288, "BILINEAR_CV")


def test_timm_transform_for_tiny_is_close_to_vdsp_on_native_size():
    from effv2nb.model import models
    from effv2nb.core.settings import DIGITS_DIR
    from effv2nb.data.images import read_image
    model = models.load("tiny")
    tf = preprocess.timm_transform(model)
    img = read_image(next((DIGITS_DIR / "val" / "3").iterdir()))
    a, b = tf(img), preprocess.apply(generate_vdsp(model), img)
    assert a.shape == b.shape == (3, 64, 64)
    assert np.abs(a - b).max() < 0.01   # same size: only the float16-rounded mean/std differ


def test_timm_transform_uses_the_test_size_like_timms_validate():
    """rw_t's weights are evaluated at 288 px (test_input_size), not the 224 px training size."""
    import timm
    from PIL import Image

    model = timm.create_model("efficientnetv2_rw_t")
    tf = preprocess.timm_transform(model)
    assert tf.config["input_size"] == (3, 288, 288) and tf.config["interpolation"] == "bicubic"
    assert tf(Image.new("RGB", (500, 375))).shape == (3, 288, 288)


def _real_photos():
    """Real photographs that ship with installed packages (scikit-learn's two, matplotlib's Grace Hopper)."""
    import matplotlib
    import sklearn.datasets
    from pathlib import Path

    found = sorted(Path(sklearn.datasets.__file__).parent.joinpath("images").glob("*.jpg"))
    found += [Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]
    return [p for p in found if p.is_file()]


@pytest.mark.parametrize("out", [(288, 288), (224, 224), (61, 47), (700, 500)])
def test_opencv_resize_equals_the_reference_on_real_photos(out):
    """BILINEAR_CV is cv2.resize on float32: the same arithmetic as the written-out reference, on photos."""
    from effv2nb.data.images import read_image

    photos = _real_photos()
    assert len(photos) >= 3, photos
    for p in photos:
        img = np.asarray(read_image(p))
        fast = preprocess.resize_bilinear_cv(img, *out)
        ref = preprocess.resize_bilinear_reference(img, *out)
        assert fast.shape == ref.shape == (out[1], out[0], 3) and fast.dtype == np.float32
        assert np.abs(fast - ref).max() < 1e-4, (p.name, out, float(np.abs(fast - ref).max()))


def test_opencv_on_uint8_would_round_so_the_op_gives_it_float():
    """Why float32 goes in: on uint8 OpenCV rounds to integers, the device's op keeps the fraction."""
    import cv2
    from effv2nb.data.images import read_image

    img = np.asarray(read_image(_real_photos()[0]))
    rounded = cv2.resize(img, (288, 288), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    exact = preprocess.resize_bilinear_reference(img, 288, 288)
    assert np.abs(rounded - exact).max() > 0.25
    assert np.abs(preprocess.resize_bilinear_cv(img, 288, 288) - exact).max() < 1e-4
