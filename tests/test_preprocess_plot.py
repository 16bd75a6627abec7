"""The squash-vs-crop picture of notebook 04: pixels come back from both tensors, the difference is real."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from effv2nb.core import settings  # noqa: E402
from effv2nb.device import preprocess, preprocess_plot as pp  # noqa: E402
from effv2nb.formats.vdsp import generate_vdsp, load_vdsp, resolve  # noqa: E402


def _photo(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("norma", ["DIV255_MINUSMEAN_DIVSTD", "MINUSMEAN_DIVSTD", "DIV255", "EQUAL"])
@pytest.mark.parametrize("color", ["NO_CHANGE", "RGB2BGR"])
def test_vdsp_pixels_undo_the_fusion_op(norma, color):
    v = generate_vdsp("tiny", size=32)
    v["OpConfig"]["NormaType"] = norma
    v["OpConfig"]["ColorCvtCode"] = color
    if norma == "MINUSMEAN_DIVSTD":
        v["OpConfig"]["Mean"] = [123.7, 116.3, 103.5]
        v["OpConfig"]["Std"] = [58.4, 57.1, 57.4]
    img = _photo(32, 32)
    chw = preprocess.apply(v, img)
    back = pp.vdsp_pixels(resolve(v), chw)
    assert back.shape == (32, 32, 3)
    assert np.abs(back - np.asarray(img, dtype=np.float32)).max() < 1e-3


def test_timm_pixels_undo_timms_normalisation():
    tf = preprocess.timm_transform("efficientnetv2_rw_t", size=32)
    img = _photo(32, 32, seed=1)   # already the output size: the resize leaves the pixels as they are
    back = pp.timm_pixels(tf.config, tf(img))
    assert np.abs(back - np.asarray(img, dtype=np.float32)).max() < 0.01


def test_timm_crop_box():
    cfg = {"input_size": (3, 288, 288), "crop_pct": 1.0}
    assert pp.timm_crop_box(cfg, 512, 600) == pytest.approx((0, 44, 512, 512))
    cfg = {"input_size": (3, 224, 224), "crop_pct": 0.875}    # resize to 256, crop 224
    x0, y0, w, h = pp.timm_crop_box(cfg, 256, 512)
    assert (w, h) == pytest.approx((224, 224)) and (x0, y0) == pytest.approx((16, 144))


def test_compare_same_geometry_is_close_and_squash_vs_crop_is_not():
    op = resolve(load_vdsp(settings.DATA_DIR / "configs" / "timm-efficientnetv2_rw_t-vdsp_params.json"))
    tf = preprocess.timm_transform("efficientnetv2_rw_t", size=64)
    op64 = resolve(generate_vdsp("efficientnetv2_rw_t", size=64))
    square = _photo(64, 64, seed=2)          # no resize on either side: only the float16 mean/std differ
    c = pp.compare(square, op64, tf)
    assert c.mean_abs < 0.05 and c.diff.shape == (64, 64)
    # a smooth, tall photo: the squash and the centre crop show different parts of it
    y = np.linspace(0, 255, 300, dtype=np.float32)[:, None, None] * np.ones((1, 200, 3), np.float32)
    tall = Image.fromarray(y.astype(np.uint8))
    c = pp.compare(tall, op64, tf)
    assert c.mean_abs > 5 and "200x300 photo -> 64x64" in c.line()
    with pytest.raises(ValueError, match="different shapes"):
        pp.compare(tall, op, tf)             # 288 vs 64


def test_plot_has_four_panels_and_shows_nothing():
    import matplotlib.pyplot as plt

    op = resolve(generate_vdsp("tiny", size=48))
    tf = preprocess.timm_transform("efficientnetv2_rw_t", size=48)
    before = plt.get_fignums()
    fig, c = pp.plot(_photo(80, 60), op, tf, title="t")
    assert len(fig.axes) == 5              # four panels and the colour bar
    assert fig.get_size_inches()[0] <= 11
    assert c.vdsp.shape == (3, 48, 48)
    plt.close(fig)
    assert plt.get_fignums() == before
