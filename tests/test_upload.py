"""The upload handler, called exactly as the FileUpload widget calls it, with good and bad files."""
import io
import struct
import zlib

import pytest
from matplotlib import cbook
from PIL import Image

from effv2nb.data import images
from effv2nb.model import models
from effv2nb.ui import upload
from effv2nb.core.settings import DIGITS_DIR


@pytest.fixture(scope="module")
def tiny():
    return models.load("tiny")


def _png_header_only(w, h):
    """A PNG whose header claims w x h (a decompression bomb's signature) with a tiny body."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_good_upload_gives_five_classes(tiny):
    path = sorted((DIGITS_DIR / "val" / "4").glob("*.png"))[0]
    res = upload.classify_upload(upload.simulated_upload(path.read_bytes(), "four.png", "image/png"), tiny)
    assert res.ok and len(res.predictions) == 5 and res.predictions[0].label == "4"
    assert "four.png" in res.message


def test_real_photo_jpeg(tiny):
    data = open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), "rb").read()
    res = upload.classify_upload(upload.simulated_upload(data, "hopper.jpg"), tiny)
    assert res.ok and len(res.predictions) == 5


def test_random_weights_are_named_next_to_the_prediction():
    m = models.load("tiny", weights="random")
    path = sorted((DIGITS_DIR / "val" / "1").glob("*.png"))[0]
    res = upload.classify_upload(upload.simulated_upload(path.read_bytes(), "x.png"), m)
    assert res.ok and "RANDOM WEIGHTS" in res.message


def _jpeg_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 10, 10)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name,data,needle", [
    ("notes.jpg", b"plain text, not an image", "not an image"),
    ("empty.png", b"", "empty"),
    ("cut.jpg", _jpeg_bytes()[:150], "truncated"),
    ("bomb.png", _png_header_only(30000, 30000), "decompression-bomb"),
])
def test_bad_uploads_give_one_line(tiny, name, data, needle):
    res = upload.classify_upload(upload.simulated_upload(data, name), tiny)
    assert not res.ok and name in res.message and needle in res.message and "\n" not in res.message


def test_size_cap(tiny, monkeypatch):
    value = upload.simulated_upload(b"\0" * 10, "big.jpg")
    value[0]["size"] = images.MAX_FILE_BYTES + 1
    res = upload.classify_upload(value, tiny)
    assert not res.ok and "cap" in res.message
    big = upload.simulated_upload(b"\0" * (images.MAX_FILE_BYTES + 1), "big2.jpg")
    assert "cap" in upload.classify_upload(big, tiny).message


def test_no_upload(tiny):
    assert not upload.classify_upload((), tiny).ok


def test_widget_observer_runs_the_handler(tiny):
    demo = upload.upload_demo(tiny)
    path = sorted((DIGITS_DIR / "val" / "8").glob("*.png"))[0]
    demo.upload.value = upload.simulated_upload(path.read_bytes(), "eight.png", "image/png")
    assert demo.last.ok and demo.last.name == "eight.png" and demo.figure is not None
    demo.upload.value = upload.simulated_upload(b"junk", "junk.jpg")
    assert not demo.last.ok and demo.figure is None


def _good(tiny, name="four.png"):
    path = sorted((DIGITS_DIR / "val" / "4").glob("*.png"))[0]
    return upload.classify_upload(upload.simulated_upload(path.read_bytes(), name, "image/png"), tiny)


def test_show_result_displays_the_chart_once_and_returns_nothing(tiny, monkeypatch, capsys):
    import IPython.display
    from matplotlib.figure import Figure

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    res = _good(tiny)
    assert upload.show_result(res, tiny) is None          # a cell's last line adds no second chart
    assert len(shown) == 1 and isinstance(shown[0], Figure)
    ax_img, ax_bar = shown[0].axes
    assert len(ax_bar.patches) == 5 and "four.png" in ax_bar.get_title()
    assert capsys.readouterr().out.strip() == res.message

    bad = upload.classify_upload(upload.simulated_upload(b"junk", "junk.jpg"), tiny)
    shown.clear()
    assert upload.show_result(bad, tiny) is None and shown == []
    assert capsys.readouterr().out.strip() == bad.message


def test_result_figure_stays_out_of_pyplot(tiny):
    """pyplot's global figure list is what the inline backend's flush_figures (run after every widget comm
    message, possibly on a subshell thread) draws and closes: the handler's figure must not be in it."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = upload.result_figure(_good(tiny), tiny)
    assert plt.get_fignums() == before
    assert tuple(fig.get_size_inches()) == (8, 2.6) and len(fig.axes) == 2
    assert upload.result_figure(upload.classify_upload((), tiny), tiny) is None


def test_show_result_as_a_cells_last_line_gives_one_image(tmp_path):
    """In a real kernel, as a person calls it: one PNG output, one result line."""
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "%matplotlib inline\n"
        "from effv2nb.model import models\nfrom effv2nb.ui import upload\nfrom effv2nb.core.settings import DIGITS_DIR\n"
        "m = models.load('tiny')\np = sorted((DIGITS_DIR / 'val' / '4').glob('*.png'))[0]\n"
        "res = upload.classify_upload(upload.simulated_upload(p.read_bytes(), 'four.png', 'image/png'), m)"),
        nbformat.v4.new_code_cell("upload.show_result(res, m)")]
    env_keep = os.environ.pop("MPLBACKEND", None)        # the inline backend, as in JupyterLab
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if env_keep is not None:
            os.environ["MPLBACKEND"] = env_keep
    outs = nb.cells[1].outputs
    images = [o for o in outs if "image/png" in o.get("data", {})]
    assert len(images) == 1, [o.get("output_type") for o in outs]
    assert not [o for o in outs if o.output_type == "execute_result"]
    assert any(o.output_type == "stream" and "four.png: 4 (" in o.text for o in outs)
