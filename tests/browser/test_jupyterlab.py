"""What a person does in JupyterLab, in a real (headless) Chromium -- issue 8.

1. Open ``00_quickstart.ipynb``, Run -> Run All Cells, pick an image in the ``FileUpload`` widget's real file
   chooser and check that the widget shows the top-5 chart and the one-line result for that file; the chart
   counts as shown when the widget's screenshot holds the bars' pixels (``chart_pixels.count_bar_pixels``).
2. Open ``03_compile_config.ipynb``, Run All Cells, change the dtype in the config form, press Save and check the
   YAML file that Save wrote on disk.

Each step leaves a screenshot in the folder printed at the end of the run (see conftest.py). The server runs on
a temp copy of the repository, so nothing is written into the checkout.
Run alone: ``pytest tests/browser -m browser`` (``.ci/install-browser`` installs Chromium and playwright).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from chart_pixels import count_bar_pixels, differing_fraction, png_from_data_url

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser

ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"          # the notebook tab in front
RUN_ALL_TIMEOUT_MS = 150_000
DIGIT = "7"                                                 # the upload: a validation digit the model never saw
# The upload's chart must be visible: bar-coloured pixels in the widget's screenshot (a whole chart: ~12,600;
# the garbled image of issue 13: ~356), at least half of those in the PNG the kernel sent.
MIN_BAR_PIXELS = 3_000
SEEN_FRACTION = 0.5

_DONE_JS = """(sel) => {
  const panel = document.querySelector(sel);
  if (!panel) return null;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
  if (prompts.length === 0 || prompts.some(t => t.includes('*'))) return null;   // queued or running
  if (!prompts.some(t => /\\d/.test(t))) return null;                             // not started yet
  return prompts;
}"""

# JupyterLab renders an error output (the traceback) with the stderr mime type.
_ERRORS_JS = """(sel) => [...document.querySelectorAll(
    sel + ' .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.innerText).filter(t => /Traceback \\(most recent call last\\)|^\\w+Error: /m.test(t))"""


# --------------------------------------------------------------------------- helpers

def _session(server, rel: str):
    for s in server.api("api/sessions"):
        if s.get("path") == rel or s.get("notebook", {}).get("path") == rel:
            return s
    return None


def _wait_kernel_idle(server, rel: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        s = _session(server, rel)
        state = s and s["kernel"].get("execution_state")
        if state == "idle":
            return
        time.sleep(0.5)
    raise AssertionError(f"kernel for {rel} not idle after {timeout:.0f} s (state {state!r})")


def _open_notebook(page, server, rel: str):
    """Open ``rel`` (relative to the server root) in a fresh workspace; return the notebook panel."""
    page.goto(server.url(f"lab/tree/{rel}?reset"), wait_until="domcontentloaded")
    panel = page.locator(ACTIVE)
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=90_000)
    _wait_kernel_idle(server, rel, timeout=90)
    return panel


def _run_all_cells(page, server, rel: str) -> list[str]:
    """Run -> Run All Cells from the menu bar; wait until every cell ran and the kernel is idle."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:   # the queued cells show [*] at once; tolerate having missed it
        page.wait_for_function("(sel) => [...document.querySelectorAll(sel + ' .jp-InputPrompt')]"
                               ".some(e => e.textContent.includes('*'))", arg=ACTIVE, timeout=10_000)
    except Exception:
        pass
    prompts = page.wait_for_function(_DONE_JS, arg=ACTIVE, timeout=RUN_ALL_TIMEOUT_MS).json_value()
    _wait_kernel_idle(server, rel)
    errors = page.evaluate(_ERRORS_JS, ACTIVE)
    assert not errors, f"{rel}: a cell failed in the browser:\n" + "\n---\n".join(e[-1500:] for e in errors)
    not_run = [i for i, p in enumerate(prompts) if not re.search(r"\[\d+\]", p)]
    assert not not_run, f"{rel}: code cells {not_run} did not run (prompts {prompts})"
    return prompts


def _shutdown_kernel(server, rel: str) -> None:
    s = _session(server, rel)
    if s:
        try:
            server.api(f"api/sessions/{s['id']}", method="DELETE", timeout=10)
        except Exception:
            pass


def _watch(paths):
    """Fingerprints of the given files, to see which ones a click wrote."""
    out = {}
    for p in paths:
        try:
            out[p] = hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError:
            out[p] = None
    return out


def _yaml_files(root: Path):
    return [p for p in root.rglob("*.y*ml") if ".ipynb_checkpoints" not in p.parts]


# --------------------------------------------------------------------------- 00: upload an image

def _expected_chart(path: Path, name: str) -> bytes:
    """The PNG the kernel should send for ``path`` uploaded as ``name``: the same functions, IPython's formatter."""
    from IPython.core.pylabtools import print_figure

    from effv2nb.model import models
    from effv2nb.ui import upload

    model = models.load("tiny")
    result = upload.classify_upload(upload.simulated_upload(path.read_bytes(), name, "image/png"), model)
    return print_figure(upload.result_figure(result, model), "png", bbox_inches="tight")


def test_quickstart_upload_shows_top5(lab_server, lab_context, shoot, tmp_path):
    rel = "notebooks/00_quickstart.ipynb"
    page = lab_context.new_page()
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    t0 = time.monotonic()

    panel = _open_notebook(page, lab_server, rel)
    prompts = _run_all_cells(page, lab_server, rel)
    print(f"{rel}: {len(prompts)} code cells ran in the browser in {time.monotonic() - t0:.0f} s")

    # The widget really rendered (not its text repr): jupyterlab_widgets is active.
    upload_button = panel.locator(".widget-upload").first
    try:
        upload_button.wait_for(state="visible", timeout=60_000)
    except Exception:
        shoot(page, "00_quickstart_no_widget")
        raise AssertionError("the FileUpload widget did not render (is jupyterlab_widgets installed?); "
                             f"console errors: {console[-10:]}")
    widget_box = panel.locator(".widget-vbox", has=page.locator(".widget-upload")).first
    output = widget_box.locator(".widget-output").first            # the demo's ipywidgets.Output

    # A real image file with a name of its own, picked in the browser's file chooser.
    src = sorted((REPO / "data" / "digits" / "val" / DIGIT).glob("*.png"))[0]
    image = tmp_path / f"browser_upload_{DIGIT}.png"
    shutil.copyfile(src, image)
    before = output.locator("img").first.get_attribute("src") if output.locator("img").count() else None
    with page.expect_file_chooser() as chooser_info:
        upload_button.click()
    chooser = chooser_info.value
    assert not chooser.is_multiple()
    chooser.set_files(str(image))

    # The kernel-side handler answers in the widget's output: one line naming the file, and the chart.
    result_line = output.locator(".jp-OutputArea-output", has_text=f"{image.name}: ")
    try:
        result_line.first.wait_for(state="visible", timeout=60_000)
    except Exception:
        shoot(page, "00_quickstart_no_result")
        raise AssertionError(f"no result line for {image.name} in the upload widget; it shows:\n"
                             f"{widget_box.inner_text()[-1500:]}\nconsole errors: {console[-10:]}")
    chart = output.locator("img")
    chart.first.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 200", arg=chart.first.element_handle())
    assert chart.first.get_attribute("src") != before, "the chart is still the simulated upload's"
    text = output.inner_text()
    assert "my_digit.png" not in text, "the output still shows the notebook's simulated upload"
    assert re.search(r"\(1\)", upload_button.inner_text()), upload_button.inner_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{image.name}: "))
    if os.environ.get("EFFV2NB_MODEL", "tiny") == "tiny":
        assert line.startswith(f"{image.name}: {DIGIT} ("), f"tiny should read the digit {DIGIT}: {line!r}"
    print(f"upload result: {line}")

    # What a person sees: the bars in the screenshot, against the bars in the PNG the kernel sent.
    widget_box.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    shoot(page, "00_quickstart_upload")
    shot = shoot(widget_box, "00_quickstart_upload_widget")
    sent_png = png_from_data_url(chart.first.get_attribute("src"))
    sent = count_bar_pixels(sent_png)
    seen = count_bar_pixels(shot)
    print(f"upload chart: {seen} bar-coloured pixels in the screenshot, {sent} in the PNG the kernel sent")
    assert sent >= MIN_BAR_PIXELS, f"the chart the kernel sent has only {sent} bar pixels"
    assert seen >= max(MIN_BAR_PIXELS, SEEN_FRACTION * sent), (
        f"the screenshot {shot} shows {seen} bar-coloured pixels, the chart the kernel sent has {sent}: "
        "the browser does not show the chart")
    if os.environ.get("EFFV2NB_MODEL", "tiny") == "tiny":      # trained, shipped weights: the same numbers here
        expected = _expected_chart(src, image.name)
        off = differing_fraction(sent_png, expected)
        if off >= 0.01:
            (shot.parent / "00_quickstart_upload_sent.png").write_bytes(sent_png)
            (shot.parent / "00_quickstart_upload_expected.png").write_bytes(expected)
        assert off < 0.01, (f"the chart the kernel sent differs from the one the suite draws for {image.name} "
                            f"in {off:.1%} of its pixels (a figure drawn or resized while it was built?); "
                            f"both PNGs are in {shot.parent}")
    page.close()
    _shutdown_kernel(lab_server, rel)


# --------------------------------------------------------------------------- 03: edit the config, Save

DTYPE_CONTROLS = ".widget-dropdown, .widget-select, .widget-toggle-buttons, .widget-radio, .widget-text"


def _choose_other_dtype(control) -> tuple[str, str]:
    """Set the dtype control to another value (int8 <-> fp16 preferred); return (old, new)."""
    select = control.locator("select")
    if select.count():
        options = [o.strip() for o in select.locator("option").all_inner_texts()]
        old = select.evaluate("s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''").strip()
        new = _pick(old, options)
        select.select_option(label=new)
        return old, new
    buttons = control.locator("button")
    if buttons.count():                                   # ToggleButtons
        options = [b.strip() for b in buttons.all_inner_texts()]
        old = control.locator("button.mod-active").inner_text().strip()
        new = _pick(old, options)
        control.locator("button", has_text=re.compile(rf"^\s*{re.escape(new)}\s*$")).click()
        return old, new
    radios = control.locator("input[type=radio]")
    if radios.count():                                    # RadioButtons
        labels = control.locator(".widget-radio-box label")
        options = [t.strip() for t in labels.all_inner_texts()]
        old = next((o for o, r in zip(options, radios.all()) if r.is_checked()), "")
        new = _pick(old, options)
        labels.nth(options.index(new)).click()
        return old, new
    text = control.locator("input").first                 # a free-text field
    old = text.input_value().strip()
    new = _pick(old, ["fp16", "int8"])
    text.fill(new)
    text.press("Enter")
    return old, new


def _pick(old: str, options: list[str]) -> str:
    for a, b in (("int8", "fp16"), ("fp16", "int8")):
        if old == a and b in options:
            return b
    others = [o for o in options if o and o != old]
    assert others, f"the dtype control offers nothing to change to ({options})"
    return others[0]


def test_config_editor_save_writes_dtype(lab_server, lab_context, shoot):
    rel = "notebooks/03_compile_config.ipynb"
    if not (REPO / rel).is_file():
        pytest.skip(f"{rel} does not exist yet (the config editor notebook of issue 8 is being written)")
    if not (lab_server.root / rel).is_file():
        pytest.skip(f"{rel} appeared after the server's copy of the repository was made; rerun")
    page = lab_context.new_page()
    t0 = time.monotonic()
    panel = _open_notebook(page, lab_server, rel)
    prompts = _run_all_cells(page, lab_server, rel)
    print(f"{rel}: {len(prompts)} code cells ran in the browser in {time.monotonic() - t0:.0f} s")

    # The form: the output that holds both a dtype control (found by its description) and a Save button.
    dtype_label = page.locator(".widget-label", has_text=re.compile(r"dtype", re.I))
    save_button = page.locator("button.widget-button", has_text=re.compile(r"^\s*Save\s*$"))
    forms = panel.locator(".jp-OutputArea-output").filter(has=dtype_label).filter(has=save_button)
    try:
        forms.first.wait_for(state="visible", timeout=60_000)
    except Exception:
        shoot(page, "03_compile_config_no_form")
        raise AssertionError(f"{rel}: no widget output with a 'dtype' control and a 'Save' button")
    form = forms.first
    controls = form.locator(DTYPE_CONTROLS).filter(has=dtype_label)
    labels = [t.strip() for t in controls.locator(".widget-label").all_inner_texts()]
    backend = [i for i, t in enumerate(labels) if "backend" in t.lower()]
    control = controls.nth(backend[0] if backend else 0)     # backend.dtype over e.g. frontend.dtype
    control.scroll_into_view_if_needed()

    # Where Save writes: the path the form names (a <code> ending in .yaml), and every YAML in the server root.
    named = [t.strip() for t in form.locator("code").all_inner_texts() if re.search(r"\.ya?ml$", t.strip())]
    nb_dir = (lab_server.root / rel).parent
    named_paths = [(nb_dir / p).resolve() if not Path(p).is_absolute() else Path(p) for p in named]
    work = Path(lab_server.env["EFFV2NB_WORK"])
    watched = set(_yaml_files(lab_server.root)) | set(_yaml_files(work)) | set(named_paths)
    before = _watch(watched)

    old, new = _choose_other_dtype(control)
    save = form.locator("button.widget-button", has_text=re.compile(r"^\s*Save\s*$")).first
    page.wait_for_function("(b) => !b.disabled", arg=save.element_handle(), timeout=15_000)
    page.wait_for_timeout(500)                               # let the change reach the kernel first
    save.click()

    written, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline and not written:
        time.sleep(0.5)
        now_files = set(_yaml_files(lab_server.root)) | set(_yaml_files(work)) | set(named_paths)
        after = _watch(now_files)
        for p in sorted(now_files):
            if after[p] is not None and after[p] != before.get(p):
                try:
                    data = yaml.safe_load(p.read_text())
                except (OSError, yaml.YAMLError):
                    continue
                if isinstance(data, dict) and (data.get("backend") or {}).get("dtype") == new:
                    written.append(p)
    page.wait_for_timeout(300)
    status = form.inner_text()
    assert written, (f"{rel}: after dtype {old} -> {new} and Save, no YAML under {lab_server.root} or {work} has "
                     f"backend.dtype: {new} (form names {named}); form says:\n{status[-1500:]}")
    if named_paths:
        assert set(named_paths) & set(written), f"Save wrote {written}, the form names {named_paths}"
    saved = (set(named_paths) & set(written) or set(written)).pop()
    assert re.search(r"\bsaved\b", status, re.I), f"the form does not say it saved:\n{status[-800:]}"

    from effv2nb.formats import build_config as config  # the suite's own validator reads it back
    cfg, _warnings = config.load_build_config(saved)
    assert cfg.backend.dtype == new
    print(f"Save wrote {saved} with backend.dtype {old} -> {new}")

    page.wait_for_timeout(500)
    form.scroll_into_view_if_needed()
    shoot(page, "03_compile_config_saved")
    shoot(form, "03_compile_config_form")
    page.close()
    _shutdown_kernel(lab_server, rel)
