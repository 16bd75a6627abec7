"""The screenshot check of the browser test, on images whose answer is known (no browser needed)."""
import base64
import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from chart_pixels import TOLERANCE, _rgb, count_bar_pixels, differing_fraction, png_from_data_url
from effv2nb.model.predict import ClassScore
from effv2nb.ui.plots import BAR_COLOR, top5_chart

matplotlib.use("Agg")


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_counts_exactly_the_bar_coloured_block():
    img = np.full((120, 200, 3), 255, np.uint8)
    bar = np.array(_rgb(BAR_COLOR))
    img[10:40, 20:120] = bar                                   # 3,000 bar pixels
    img[50:60, 20:120] = bar + TOLERANCE                       # still the bar colour (anti-aliasing): 1,000
    img[70:80, 20:120] = np.clip(bar + TOLERANCE + 1, 0, 255)  # just outside
    img[90:100, 20:120] = 128                                  # grey: text, axes, a grey digit
    img[100:110, 20:120] = (200, 30, 30)                       # another colour
    assert count_bar_pixels(_png(img)) == 4_000


def test_rgba_and_path(tmp_path):
    img = np.zeros((10, 10, 4), np.uint8)
    img[..., :3] = _rgb(BAR_COLOR)
    img[..., 3] = 255
    p = tmp_path / "x.png"
    p.write_bytes(_png(img))
    assert count_bar_pixels(p) == 100 and count_bar_pixels(str(p)) == 100


def _chart_png(probs) -> bytes:
    import matplotlib.pyplot as plt

    preds = [ClassScore(i, str(i), p) for i, p in enumerate(probs)]
    fig = top5_chart(preds, title="t")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_a_real_chart_has_its_bars_and_an_empty_one_has_none():
    full = count_bar_pixels(_chart_png([0.97, 0.01, 0.01, 0.005, 0.005]))
    empty = count_bar_pixels(_chart_png([0.0] * 5))
    assert full > 3_000 and empty < 50, (full, empty)


def test_noise_is_not_a_chart():
    rng = np.random.default_rng(0)                              # a garbled image: random colours
    noise = rng.integers(0, 256, size=(250, 746, 3))
    assert count_bar_pixels(_png(noise)) < 0.01 * 250 * 746


def test_data_url():
    png = _png(np.zeros((2, 2, 3)))
    assert png_from_data_url("data:image/png;base64," + base64.b64encode(png).decode()) == png
    with pytest.raises(ValueError):
        png_from_data_url("blob:http://127.0.0.1/abc")


def test_differing_fraction():
    a = np.full((10, 20, 3), 255)
    b = a.copy()
    b[:5, :4] = 0                                              # 20 of 200 pixels
    b[5:, :4] = 255 - 32                                       # within tolerance
    assert differing_fraction(_png(a), _png(a)) == 0.0
    assert differing_fraction(_png(a), _png(b)) == pytest.approx(0.1)
    assert differing_fraction(_png(a), _png(a[:, :19])) == 1.0
