"""Image decoding: odd but valid images work; broken and hostile ones are refused in one line."""
import io
from pathlib import Path
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from effv2nb.core.errors import Effv2nbError
from effv2nb.data.images import decode_image, read_image


def _bytes(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _exif_rotated_jpeg():
    """A 40x20 image stored with EXIF orientation 6 (display rotated 90 degrees clockwise)."""
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    return _bytes(img, "JPEG", exif=exif.tobytes(), quality=95)


def _palette_with_transparency():
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 8, 16))
    return _bytes(img, "PNG", transparency=0)


GOOD = {
    "gray.png": lambda: _bytes(Image.new("L", (30, 20), 128), "PNG"),
    "rgba.png": lambda: _bytes(Image.new("RGBA", (30, 20), (10, 200, 30, 0)), "PNG"),
    "palette_transparent.png": _palette_with_transparency,
    "cmyk.jpg": lambda: _bytes(Image.new("CMYK", (30, 20), (0, 255, 255, 0)), "JPEG"),
    "16bit.png": lambda: _bytes(Image.fromarray(np.full((20, 30), 40000, dtype=np.uint16)), "PNG"),
    "one_pixel.png": lambda: _bytes(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"),
    "long_5000x10.png": lambda: _bytes(Image.new("RGB", (5000, 10), (9, 9, 9)), "PNG"),
    "exif_rotated.jpg": _exif_rotated_jpeg,
}


@pytest.mark.parametrize("name", GOOD)
def test_valid_images_decode_to_rgb(name):
    img = decode_image(GOOD[name](), name)
    assert img.mode == "RGB" and img.size[0] >= 1


def test_details_of_conversions():
    assert decode_image(GOOD["exif_rotated.jpg"]()).size == (20, 40), "EXIF orientation respected"
    rgba = np.asarray(decode_image(GOOD["rgba.png"]()))
    assert (rgba == 255).all(), "fully transparent pixels become white paper"
    cmyk = np.asarray(decode_image(GOOD["cmyk.jpg"]())).mean(axis=(0, 1))
    assert cmyk[0] > 200 and cmyk[1] < 60 and cmyk[2] < 60, "CMYK red stays red"
    sixteen = np.asarray(decode_image(GOOD["16bit.png"]()))
    assert 150 < sixteen.mean() < 160, "16-bit scaled to 8-bit (40000/65535*255 = 155.6)"


def _truncated(fmt):
    data = _bytes(Image.effect_noise((64, 64), 50).convert("RGB"), fmt)
    return data[: len(data) // 2]


def _bomb_header():
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("name,data", [
    ("text.jpg", b"hello, I am text"),
    ("empty.jpg", b""),
    ("trunc.jpg", _truncated("JPEG")),
    ("trunc.png", _truncated("PNG")),
    ("bomb.png", _bomb_header()),
])
def test_bad_images_are_refused_by_name(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(Effv2nbError) as err:
        read_image(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(Effv2nbError, match="cannot read"):
        read_image(tmp_path / "absent.png")


# ---------------------------------------------------------------- read_rgb: OpenCV for plain JPEGs, the same pixels
def _jpegs(tmp_path):
    """Real photos, ImageNet-like JPEGs, and the cases that must go Pillow's way."""
    import matplotlib
    import sklearn.datasets
    from PIL import Image

    from effv2nb.data.imagenet_like import make_folder
    from effv2nb.data.datasets import list_images

    photos = sorted(Path(sklearn.datasets.__file__).parent.joinpath("images").glob("*.jpg"))
    photos.append(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    photos += list_images(make_folder(tmp_path / "inl", 6))
    rgb = np.asarray(Image.open(photos[0]).convert("RGB"))
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.jpg", quality=92)
    Image.fromarray(rgb).save(tmp_path / "progressive.jpg", quality=85, progressive=True)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6                                            # rotate 90 degrees on display
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", quality=90, exif=exif)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    (tmp_path / "trailing.jpg").write_bytes(photos[0].read_bytes() + b"\x00\x00\n")
    return photos + [tmp_path / n for n in ("grey.jpg", "progressive.jpg", "cmyk.jpg", "rotated.jpg", "photo.png",
                                            "trailing.jpg")]


def test_read_rgb_gives_read_images_pixels(tmp_path):
    from effv2nb.data.images import _decode_plain_jpeg, read_image, read_rgb

    fast = 0
    for p in _jpegs(tmp_path):
        a, b = read_rgb(p), np.asarray(read_image(p))
        assert a.dtype == np.uint8 and a.shape == b.shape and np.array_equal(a, b), p.name
        fast += _decode_plain_jpeg(p.read_bytes()) is not None
    assert fast >= 10                                           # the photos did take OpenCV's way
    for name in ("cmyk.jpg", "rotated.jpg", "photo.png"):
        assert _decode_plain_jpeg((tmp_path / name).read_bytes()) is None, name


def test_read_rgb_refuses_what_read_image_refuses(tmp_path):
    from effv2nb.core.errors import Effv2nbError
    from effv2nb.data.images import read_image, read_rgb

    photo = _jpegs(tmp_path)[0].read_bytes()
    cases = {"truncated.jpg": photo[: len(photo) // 2], "empty.jpg": b"", "text.jpg": b"\xff\xd8 not a jpeg \xff\xd9"}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(Effv2nbError) as slow:
            read_image(p)
        with pytest.raises(Effv2nbError) as fast:
            read_rgb(p)
        assert str(fast.value) == str(slow.value), name
