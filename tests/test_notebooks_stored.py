"""The notebooks as committed: stored outputs a reader sees on a code host (re-made by tools/execute_notebooks.py).

Each is stored after a full run (the user's defaults), under 1 MiB, with outputs on at least 70 % of its code
cells, a contents list whose links reach its sections, at least one ``# NBVAL_CHECK_OUTPUT`` cell (nbval
compares it in every pytest run), pictures where the issue asks for them, and no widget state.
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MIN_PICTURES = {"01": 4, "04": 2, "05": 3, "06": 2}


def load(path):
    return json.loads(path.read_text())


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def texts(cell):
    for out in cell.get("outputs", []):
        yield "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))


def anchor(header: str) -> str:
    return header.strip().replace(" ", "-")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_with_outputs_and_small(path):
    nb = load(path)
    cells = code_cells(nb)
    with_output = [c for c in cells if c.get("outputs")]
    assert len(with_output) >= 0.7 * len(cells), f"{path.name}: {len(with_output)}/{len(cells)} code cells have outputs"
    assert path.stat().st_size < 2**20, f"{path.name}: {path.stat().st_size} bytes"
    assert "widgets" not in nb["metadata"], "no widget state blobs"
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0]
    stored = "\n".join(t for c in cells for t in texts(c))
    assert "CI-sized run (EFFV2NB_QUICK=1)" not in stored, "stored from a full run, as a user runs it"
    assert "EFFV2NB_NB_WEIGHTS" not in path.read_text(), "one weights variable: EFFV2NB_WEIGHTS"
    machine = re.findall(r"(?:/tmp/|/root/|/home/)\S*|/\S+/(?:data|notebooks|effv2nb)/\S*", stored)
    assert not machine, f"{path.name}: stored outputs name this machine's folders: {machine[:3]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_contents_list_and_what_comes_next(path):
    nb = load(path)
    md = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert "**Contents**" in md[0], f"{path.name}: a contents list in the first cell"
    headers = {anchor(m.group(1)) for text in md for m in re.finditer(r"^##+\s+(.+)$", text, re.M)}
    links = re.findall(r"\]\(#((?:[^()\s]|\([^()]*\))+)\)", md[0])
    assert links, f"{path.name}: the contents list links its sections"
    missing = [l for l in links if l not in headers]
    assert not missing, f"{path.name}: contents links without a section: {missing}"
    assert md[-1].startswith("## What comes next"), f"{path.name}: ends with what comes next"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checked_outputs_are_stored(path):
    checked = [c for c in code_cells(load(path)) if "".join(c["source"]).startswith("# NBVAL_CHECK_OUTPUT")]
    assert checked, f"{path.name}: at least one cell nbval compares"
    assert all(c.get("outputs") for c in checked), "a compared cell has a stored output to compare with"


@pytest.mark.parametrize("number,least", sorted(MIN_PICTURES.items()))
def test_pictures(number, least):
    path = next(p for p in NOTEBOOKS if p.name.startswith(number))
    pictures = sum(bool({"image/png", "image/jpeg"} & set(o.get("data", {}))) for c in code_cells(load(path)) for o in c.get("outputs", []))
    assert pictures >= least, f"{path.name}: {pictures} pictures stored, at least {least} wanted"


def test_04_shows_eval_topk_on_fp32_fp16_and_int8():
    path = next(p for p in NOTEBOOKS if p.name.startswith("04"))
    stored = "\n".join(t for c in code_cells(load(path)) for t in texts(c))
    assert stored.count("top1_rate") >= 3, "eval-topk's lines for the fp32, fp16 and int8 result files"
    for dtype in ("fp32", "fp16", "int8"):
        assert dtype in stored


# what tools/execute_notebooks.py stores them on (issue 20): the model a reader ships where weights do not matter
STORED_ON_RW_T = ("02", "03", "06")
BAR = re.compile(r"\d+%\|[^|\n]*\|\s*\d+/\d+")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_a_reader_does_not_stumble_on(path):
    nb = load(path)
    stored = "\n".join(t for c in code_cells(nb) for t in texts(c))
    assert not BAR.search(stored), f"{path.name}: a progress bar frozen in a stored output: {BAR.search(stored).group(0)}"
    assert not re.search(r"estimated time[^\n]*: 0 s\b", stored), f"{path.name}: an estimate of 0 s"
    banners = len(re.findall(r"^model:   ", stored, re.M))
    assert banners <= 1, f"{path.name}: the banner printed {banners} times"
    cpu_lines = [ln for ln in stored.splitlines() if ln.startswith("CPU: ") and "emulated" not in ln]
    assert len(cpu_lines) <= 1, f"{path.name}: this CPU's line printed {len(cpu_lines)} times"
    assert "exact, like the accelerator" not in stored and "what the accelerator computes" not in path.read_text(), \
        "the accelerator's arithmetic is the suite's assumption, not a fact"
    assert "VBox(children=" not in stored, f"{path.name}: a widget stored as its repr"


@pytest.mark.parametrize("number", STORED_ON_RW_T)
def test_stored_on_the_model_a_reader_ships(number):
    path = next(p for p in NOTEBOOKS if p.name.startswith(number))
    stored = "\n".join(t for c in code_cells(load(path)) for t in texts(c))
    assert "model:   efficientnetv2_rw_t @ 288px" in stored, f"{path.name}: stored on rw_t at 288 px"
    assert "seeded random weights" in stored, f"{path.name}: the weights named as what they are"


@pytest.mark.parametrize("number,picture", [("00", "images/00_upload_widget.png"), ("03", "images/03_config_form.png")])
def test_widgets_have_a_static_picture(number, picture):
    path = next(p for p in NOTEBOOKS if p.name.startswith(number))
    nb = load(path)
    assert f"]({picture})" in "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert (path.parent / picture).is_file() and (path.parent / picture).stat().st_size > 5000
    widgets = [o for c in code_cells(nb) for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets and all("picture above" in "".join(o["data"]["text/plain"]) for o in widgets)
