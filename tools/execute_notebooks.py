"""Re-execute the notebooks and store their outputs (the one command named in CONTRIBUTING.md).

    python tools/execute_notebooks.py                 # all of notebooks/*.ipynb, as a user runs them, stored
    python tools/execute_notebooks.py 04 05           # some of them (by number or path)
    python tools/execute_notebooks.py --no-store --env EFFV2NB_MODEL=efficientnetv2_rw_t ...   # run only

Each notebook runs on the model it is stored on (``STORED_ON``: 02, 03 and 06 on efficientnetv2_rw_t
with seeded random weights and, unless a folder is given, 50 ImageNet-like JPEGs to calibrate int8 on
(``effv2nb.data.imagenet_like``); the others on tiny) unless ``--env EFFV2NB_MODEL=...`` or ``--as-is``.

A notebook is run like "Run All" in JupyterLab: its own kernel, in ``notebooks/``, with the user's
defaults — ``EFFV2NB_QUICK`` removed (full size) unless ``--quick``, figures inline — and its own
fresh work folder (``EFFV2NB_WORK``, unless ``--env`` sets one). Stored files carry no widget state and
no per-cell timing metadata, and name no folder of this machine: in their outputs, paths inside the
repository are written relative to it and the work folder as ``$WORK`` (a reader's checkout is
elsewhere). They are written atomically (a failed run leaves the committed file as it was).
Exit status 1 when a notebook fails (its failing cell is printed).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
# The model each notebook is stored on. Export, the build YAML and speed do not depend on trained weights:
# 02, 03 and 06 are stored on the model a reader ships, with seeded random weights (made in the notebook's
# work folder, named so in its banner). Accuracy needs trained weights: 00, 01, 04 and 05 stay on tiny.
STORED_ON = {"02": "efficientnetv2_rw_t", "03": "efficientnetv2_rw_t", "06": "efficientnetv2_rw_t"}


def find(names) -> list:
    """Notebook paths for ``names`` (``04``, ``04_device_inference``, a path); all when empty."""
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    out = []
    for n in names:
        p = Path(n)
        hits = [p.resolve()] if p.suffix == ".ipynb" else [q for q in every if q.name.startswith(n)]
        if len(hits) != 1 or not hits[0].is_file():
            raise SystemExit(f"error: {n}: no single notebook of that name in {NOTEBOOKS}")
        out += hits
    return out


def kernel_env(quick: bool = False, extra: dict | None = None) -> dict:
    """The environment a notebook's kernel gets: a user's (full size, inline figures) plus ``extra``."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    if quick:
        env["EFFV2NB_QUICK"] = "1"
    else:
        env.pop("EFFV2NB_QUICK", None)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra or {})
    return env


def clean(nb) -> None:
    """Drop what must not be stored: widget state, per-cell timing metadata, progress bars."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    drop_progress(nb)


# a tqdm bar as text: "label:  40%|####      | 2/5 [00:01<00:01, 2.0it/s]"
_BAR = re.compile(r"^[^\n|]*\d+%\|[^|]*\|\s*[\d.]+[kM]?/[\d.]+[kM]?\s*\[[^\]]*\]\s*$")
_WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "[a live widget: run this cell in JupyterLab to use it; the picture above shows it as the browser test saw it]"


def _is_bar(text: str) -> bool:
    parts = [p for p in text.split("\r") if p.strip()]
    return bool(parts) and all(_BAR.match(p) for p in parts)


def drop_progress(nb) -> None:
    """Progress bars show live while a notebook runs; a stored one is frozen where the run was when it was
    drawn ("0%| 0/7"), so none is stored: tqdm's widget outputs and its text lines on stderr are dropped.
    Any other widget output keeps its view (drawn live when the cell runs) and, as text, ``WIDGET_NOTE``
    instead of the widget's repr."""
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") in ("display_data", "execute_result") and _WIDGET in data:
                if _is_bar("".join(data.get("text/plain", ""))):
                    continue
                # no widget state is stored: where the live widget cannot be drawn, this line shows
                data["text/plain"] = [WIDGET_NOTE]
            if out.get("output_type") == "stream":
                text = "".join(out.get("text", ""))
                lines = [ln for ln in text.split("\n") if not _is_bar(ln)]
                out["text"] = "\n".join(lines)
                if not out["text"].strip():
                    continue
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept


# work folders a notebook made itself (settings.work_dir's fallback), should one be printed
_OWN_WORK = re.compile(r"/tmp/effv2nb-\d\d(-[A-Za-z0-9_]*)?")   # also cut short, as in a widget's repr
_TEXT_MIMES = ("text/plain", "text/html", "text/markdown")


def redact(nb, work) -> None:
    """In every output, ``work`` (and any other ``effv2nb-NN-*`` temporary folder) becomes ``$WORK`` and
    the repository's own path becomes relative: what a reader sees does not name this machine's folders."""
    def fix(text: str) -> str:
        for w in {str(work), str(Path(work).resolve())}:
            text = text.replace(w, "$WORK")
        return _OWN_WORK.sub("$WORK", text.replace(str(REPO) + os.sep, "").replace(str(REPO), "."))

    def fix_field(d: dict, key: str) -> None:
        v = d.get(key)
        if isinstance(v, list):
            d[key] = [fix(x) for x in v]
        elif isinstance(v, str):
            d[key] = fix(v)

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            fix_field(out, "text")
            for mime in _TEXT_MIMES:
                fix_field(out.get("data", {}), mime)


def seeded_weights(model: str, folder: Path) -> Path:
    """``folder/<model>_seeded.safetensors``: seeded random weights (seed 0) at the model's own size."""
    sys.path.insert(0, str(REPO))
    from effv2nb.export.random_weights import save_seeded

    return save_seeded(model, folder / f"{model}_seeded.safetensors", seed=0)


def imagenet_like(folder: Path, n: int = 50) -> Path:
    """``n`` ImageNet-like JPEGs (ImageNet's sizes, photo-like noise) in synset folders, for int8
    calibration where no ImageNet folder is given: speed and the compile do not depend on what they show."""
    sys.path.insert(0, str(REPO))
    from effv2nb.data.imagenet_like import make_folder

    return make_folder(folder, n)


def execute(path, env: dict, store: bool = True, timeout: int = 3600, output=None, model: str | None = None):
    """Run one notebook in ``env``; store its outputs over ``path`` when ``store`` (or in ``output``,
    a file, when given: for a look at a run that is not stored). ``model``: the ``EFFV2NB_MODEL`` to run
    it on, with seeded random weights, unless ``env`` names a model already. Returns (ok, seconds, error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            record_timing=False)   # widget state is kept while running (nbclient needs it), dropped by clean()
    env = dict(env)
    own_work = None
    if "EFFV2NB_WORK" not in env:                        # a fresh one per notebook, named $WORK when stored
        own_work = tempfile.mkdtemp(prefix=f"effv2nb-{path.name[:2]}-")
        env["EFFV2NB_WORK"] = own_work
    work = env["EFFV2NB_WORK"]
    if model is not None and "EFFV2NB_MODEL" not in env:
        env["EFFV2NB_MODEL"] = model
        if "EFFV2NB_WEIGHTS" not in env:
            env["EFFV2NB_WEIGHTS"] = str(seeded_weights(model, Path(work)))
        if "EFFV2NB_CALIB_DIR" not in env and "EFFV2NB_VAL_DIR" not in env:
            env["EFFV2NB_CALIB_DIR"] = str(imagenet_like(Path(work) / "imagenet_like_calibration"))
    saved = dict(os.environ)
    os.environ.clear(); os.environ.update(env)           # the kernel inherits this process's environment
    t0 = time.perf_counter()
    try:
        client.execute()
        error = None
    except CellExecutionError as exc:
        error = str(exc)
    finally:
        os.environ.clear(); os.environ.update(saved)
    seconds = time.perf_counter() - t0
    clean(nb)
    redact(nb, work)
    if own_work is not None:
        shutil.rmtree(own_work, ignore_errors=True)
    if output is not None:
        nbformat.write(nb, output)
    if store and error is None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".ipynb")
        os.close(fd)
        try:
            nbformat.write(nb, tmp)
            os.chmod(tmp, path.stat().st_mode & 0o777)      # mkstemp makes it 0600; keep the file's own mode
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return error is None, seconds, error


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", help="numbers (04) or paths; default all")
    ap.add_argument("--quick", action="store_true", help="CI-sized (EFFV2NB_QUICK=1)")
    ap.add_argument("--no-store", action="store_true", help="run only, keep the files as they are")
    ap.add_argument("--output-dir", type=Path, help="also write each executed notebook (failed ones too) here")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the kernels")
    ap.add_argument("--as-is", action="store_true",
                    help="run every notebook on its own default model (tiny), not on the model it is stored on")
    a = ap.parse_args(argv)
    extra = dict(kv.split("=", 1) for kv in a.env)
    env = kernel_env(a.quick, extra)
    failed = 0
    for path in find(a.notebooks):
        out = None
        if a.output_dir:
            a.output_dir.mkdir(parents=True, exist_ok=True)
            out = a.output_dir / path.name
        model = None if a.as_is else STORED_ON.get(path.name[:2])
        ok, seconds, error = execute(path, env, store=not a.no_store, output=out, model=model)
        size = path.stat().st_size / 2**20
        print(f"{path.name:<30} {'ok' if ok else 'FAILED'} in {seconds:6.0f} s" + (f", stored ({size:.2f} MiB)" if ok and not a.no_store else ""),
              flush=True)
        if not ok:
            failed += 1
            print(error[-4000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
