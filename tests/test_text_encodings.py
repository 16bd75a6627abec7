"""Text files as editors and other systems write them: a UTF-8 byte-order mark and CRLF or CR line
endings give the same figures as the clean file, for result files, label files, datalists, build
YAMLs and vdsp JSONs; UTF-16 / UTF-32, NUL bytes, mixed encodings and a byte-order mark inside the
text are refused in one line naming the file (and the line, where there is one). A BOM never reaches
a name."""
import codecs
import shutil

import pytest
import yaml

from helpers import shipped_config

from effv2nb.formats import build_config as config, result_file as results
from effv2nb.data import labels
from effv2nb.model import models
from effv2nb.device import npz, runtime
from effv2nb.formats.vdsp import generate_vdsp
from effv2nb.cli.main import main
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR

CONFIGS = DATA_DIR / "configs"
VDSP = CONFIGS / "tiny-vdsp_params.json"
PREFIX = DATA_DIR / "tiny_64"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _crlf(b):
    return b.replace(b"\n", b"\r\n")


def _cr(b):
    return b.replace(b"\n", b"\r")


ACCEPTED = {   # how other tools write the same text
    "bom": lambda b: codecs.BOM_UTF8 + b,
    "crlf": _crlf,
    "cr": _cr,
    "bom_crlf": lambda b: codecs.BOM_UTF8 + _crlf(b),
    "bom_cr": lambda b: codecs.BOM_UTF8 + _cr(b),
}


def _mixed(b):
    """A UTF-8 file with one line in Latin-1 (two encodings in one file): the third line."""
    lines = b.split(b"\n")
    lines[2] = lines[2] + "caf\u00e9".encode("latin-1")
    return b"\n".join(lines)


def _bom_inside(b):
    lines = b.split(b"\n")
    lines[2] = codecs.BOM_UTF8 + lines[2]
    return b"\n".join(lines)


REFUSED = {    # variant: (bytes, words in the message, the line it names or None)
    "utf16_bom": (lambda b: b.decode().encode("utf-16"), ["UTF-16", "save it as UTF-8"], None),
    "utf16be_bom": (lambda b: codecs.BOM_UTF16_BE + b.decode().encode("utf-16-be"), ["UTF-16"], None),
    "utf16_no_bom": (lambda b: b.decode().encode("utf-16-le"), ["NUL bytes", "UTF-16"], "line 1"),
    "utf32_bom": (lambda b: b.decode().encode("utf-32"), ["UTF-32"], None),
    "mixed_latin1": (_mixed, ["not UTF-8", "0xE9"], "line 3"),
    "bom_inside": (_bom_inside, ["byte-order mark inside"], "line 3"),
}


def _one_line(err, path, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert str(path) in lines[0], err
    for n in needles:
        assert n in lines[0], (n, err)


def _refused(capsys, argv, path, variant):
    _, words, line = REFUSED[variant]
    assert main([str(a) for a in argv]) == 2
    _one_line(capsys.readouterr().err, path, *words, *([line] if line else []))


# ---------------------------------------------------------------- result files
def _result_bytes():
    """Four images: three top-1 hits and one top-5-only hit (75 / 100)."""
    recs = [("/val/3/img_0.png", [3, 4, 5, 6, 7]), ("/val/7/img_1.png", [2, 7, 4, 5, 6]),
            ("/val/1/img_2.png", [1, 2, 3, 4, 5]), ("/val/4/img_3.png", [4, 0, 1, 2, 3])]
    return "".join(results.format_record(path, ids, [0.6, 0.1, 0.1, 0.1, 0.1], [str(i) for i in ids])
                   for path, ids in recs).encode()


def _eval(capsys, path, *extra):
    assert main(["eval-topk", str(path), *map(str, extra)]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("variant", ACCEPTED)
def test_result_file_figures_identical(variant, tmp_path, capsys):
    clean, other = tmp_path / "clean.txt", tmp_path / f"{variant}.txt"
    clean.write_bytes(_result_bytes())
    other.write_bytes(ACCEPTED[variant](_result_bytes()))
    want = _eval(capsys, clean, "--label-txt", DIGITS_DIR / "labels.txt")
    assert want.strip() == "top1_rate: 75 top5_rate: 100"
    assert _eval(capsys, other, "--label-txt", DIGITS_DIR / "labels.txt") == want
    assert [(r.path, r.ids) for r in results.read(other)] == [(r.path, r.ids) for r in results.read(clean)]


@pytest.mark.parametrize("variant", REFUSED)
def test_result_file_refused(variant, tmp_path, capsys):
    p = tmp_path / "r.txt"
    p.write_bytes(REFUSED[variant][0](_result_bytes()))
    _refused(capsys, ["eval-topk", p, "--label-txt", DIGITS_DIR / "labels.txt"], p, variant)


# ---------------------------------------------------------------- label files
LABEL_BYTES = ("\n".join(WORDS) + "\n").encode()


def _word_results(tmp_path):
    """Images in folders named by class name (no index fallback hides a BOM in 'zero')."""
    recs = [(f"/v/{WORDS[c]}/a{c}.png", [c, (c + 1) % 10], [0.7, 0.3], ["", ""]) for c in (0, 0, 3, 9)]
    recs[1] = ("/v/zero/b.png", [5, 0], [0.7, 0.3], ["", ""])
    p = tmp_path / "words.txt"
    results.write(p, recs)
    return p


@pytest.mark.parametrize("variant", ACCEPTED)
def test_label_file_figures_identical_and_no_bom_in_names(variant, tmp_path, capsys):
    clean, other = tmp_path / "clean_labels.txt", tmp_path / f"{variant}_labels.txt"
    clean.write_bytes(LABEL_BYTES)
    other.write_bytes(ACCEPTED[variant](LABEL_BYTES))
    assert labels.from_txt(other).names == tuple(WORDS)
    res = _word_results(tmp_path)
    want = _eval(capsys, res, "--label-txt", clean)
    assert want.strip() == "top1_rate: 75 top2_rate: 100"
    assert _eval(capsys, res, "--label-txt", other) == want


@pytest.mark.parametrize("variant", ["bom", "bom_crlf"])
def test_label_file_bom_never_reaches_the_result_file(variant, tmp_path, capsys):
    """infer with a label file saved by a Windows editor writes the same result file as with a clean one."""
    imgs = tmp_path / "img"
    for c in ("0", "1"):
        (imgs / c).mkdir(parents=True)
        for f in sorted((DIGITS_DIR / "val" / c).glob("*.png"))[:2]:
            shutil.copy(f, imgs / c / f.name)
    out = {}
    for name, data in (("clean", LABEL_BYTES), (variant, ACCEPTED[variant](LABEL_BYTES))):
        lab = tmp_path / f"{name}.txt"
        lab.write_bytes(data)
        assert main(["infer", "--file-path", str(imgs), "--model-prefix", str(PREFIX), "--vdsp-params", str(VDSP),
                     "--label-txt", str(lab), "--save-dir", str(tmp_path / name), "--no-progress",
                     "--infer-mode", "sync", "--batch", "4"]) == 0
        out[name] = (tmp_path / name / "result.txt").read_bytes()
    capsys.readouterr()
    assert out[variant] == out["clean"]
    text = out["clean"].decode()
    assert "\ufeff" not in text and ", class name: zero\n" in text


@pytest.mark.parametrize("variant", REFUSED)
def test_label_file_refused(variant, tmp_path, capsys):
    p = tmp_path / "labels.txt"
    p.write_bytes(REFUSED[variant][0](LABEL_BYTES))
    _refused(capsys, ["eval-topk", _word_results(tmp_path), "--label-txt", p], p, variant)


# ---------------------------------------------------------------- datalists (npz-decode)
@pytest.fixture(scope="module")
def npz_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("npz_text")
    src = root / "src"
    for c in ("2", "8"):
        (src / c).mkdir(parents=True)
        for f in sorted((DIGITS_DIR / "val" / c).glob("*.png"))[:2]:
            shutil.copy(f, src / c / f.name)
    dl = root / "list.txt"
    npz.image2npz(src, root / "npz", dl, progress=False)
    model = models.load("tiny")
    npz.run_datalist(runtime.open_runner("ort", PREFIX), dl, root / "out", generate_vdsp(model))
    return root, dl.read_bytes()


@pytest.mark.parametrize("variant", ACCEPTED)
def test_datalist_figures_identical(variant, npz_run, tmp_path, capsys):
    root, data = npz_run
    clean, other = tmp_path / "clean.txt", tmp_path / "other.txt"
    clean.write_bytes(data)
    other.write_bytes(ACCEPTED[variant](data))
    for dl, res in ((clean, tmp_path / "r_clean.txt"), (other, tmp_path / "r_other.txt")):
        assert main(["npz-decode", str(dl), str(root / "out"), str(res), str(DIGITS_DIR / "labels.txt")]) == 0
    capsys.readouterr()
    assert (tmp_path / "r_other.txt").read_bytes() == (tmp_path / "r_clean.txt").read_bytes()
    assert _eval(capsys, tmp_path / "r_other.txt", "--label-txt", DIGITS_DIR / "labels.txt").strip() \
        == "top1_rate: 100 top5_rate: 100"


@pytest.mark.parametrize("variant", REFUSED)
def test_datalist_refused(variant, npz_run, tmp_path, capsys):
    root, data = npz_run
    p = tmp_path / "list.txt"
    p.write_bytes(REFUSED[variant][0](data))
    _refused(capsys, ["npz-decode", p, root / "out", tmp_path / "r.txt"], p, variant)
    assert not (tmp_path / "r.txt").exists()


# ---------------------------------------------------------------- build YAMLs
def _build_bytes(tmp_path):
    return shipped_config(tmp_path, "tiny_fp16.yaml", **{"workspace.path": str(tmp_path / "ws")}).read_bytes()


@pytest.mark.parametrize("variant", ACCEPTED)
def test_build_yaml_reads_the_same(variant, tmp_path, capsys):
    data = _build_bytes(tmp_path)
    clean, other = tmp_path / "clean.yaml", tmp_path / "other.yaml"
    clean.write_bytes(data)
    other.write_bytes(ACCEPTED[variant](data))
    a, wa = config.load_build_config(clean)
    b, wb = config.load_build_config(other)
    assert b.to_dict() == a.to_dict() and len(wb) == len(wa)
    assert main(["config", "check", str(other)]) == 0
    assert "valid build YAML" in capsys.readouterr().out


def test_build_yaml_with_bom_and_crlf_compiles_to_the_same_model(tmp_path, capsys):
    data = _build_bytes(tmp_path)
    mods = []
    for name, b in (("clean", data), ("windows", ACCEPTED["bom_crlf"](data))):
        d = tmp_path / name
        d.mkdir()
        p = d / "b.yaml"
        p.write_bytes(b.replace(str(tmp_path / "ws").encode(), str(d / "ws").encode()))
        assert main(["compile", str(p)]) == 0
        mods.append((d / "ws" / "effv2nb_tiny_fp16" / "mod.onnx").read_bytes())
    capsys.readouterr()
    assert mods[0] == mods[1]


@pytest.mark.parametrize("variant", REFUSED)
def test_build_yaml_refused(variant, tmp_path, capsys):
    p = tmp_path / "b.yaml"
    p.write_bytes(REFUSED[variant][0](_build_bytes(tmp_path)))
    _refused(capsys, ["config", "check", p], p, variant)
    _refused(capsys, ["compile", p], p, variant)
    assert not (tmp_path / "ws").exists()


# ---------------------------------------------------------------- vdsp JSONs
@pytest.mark.parametrize("variant", ACCEPTED)
def test_vdsp_json_gives_the_same_results(variant, tmp_path, capsys):
    other = tmp_path / "v.json"
    other.write_bytes(ACCEPTED[variant](VDSP.read_bytes()))
    assert main(["config", "check", str(other)]) == 0
    assert "valid vdsp_params JSON" in capsys.readouterr().out
    out = {}
    for name, v in (("clean", VDSP), ("other", other)):
        assert main(["infer", "--file-path", str(DIGITS_DIR / "val" / "6"), "--model-prefix", str(PREFIX),
                     "--vdsp-params", str(v), "--save-dir", str(tmp_path / name), "--no-progress",
                     "--infer-mode", "sync", "--batch", "8"]) == 0
        out[name] = (tmp_path / name / "result.txt").read_bytes()
    capsys.readouterr()
    assert out["other"] == out["clean"]


@pytest.mark.parametrize("variant", REFUSED)
def test_vdsp_json_refused(variant, tmp_path, capsys):
    p = tmp_path / "v.json"
    p.write_bytes(REFUSED[variant][0](VDSP.read_bytes()))
    _refused(capsys, ["config", "check", p], p, variant)
    img = next((DIGITS_DIR / "val" / "6").iterdir())
    _refused(capsys, ["infer", "--file-path", img, "--model-prefix", PREFIX, "--vdsp-params", p,
                      "--save-dir", tmp_path / "out", "--no-progress"], p, variant)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the reader itself
def test_the_reader_names_the_line_of_a_stray_byte():
    from effv2nb.core.textio import decode_text

    with pytest.raises(Effv2nbError) as exc:
        decode_text("a\nb\nc".encode() + b"\xff\nd", "f.txt", "label file")
    assert str(exc.value).startswith("f.txt: line 3: cannot read label file: not UTF-8") and "0xFF" in str(exc.value)
    assert decode_text(codecs.BOM_UTF8 + b"x\r\ny\rz\n") == "x\ny\nz\n"
    assert decode_text("caf\u00e9\r\n".encode()) == "caf\u00e9\n"
    assert yaml.safe_load(decode_text(codecs.BOM_UTF8 + b"name: x\r\n")) == {"name": "x"}
