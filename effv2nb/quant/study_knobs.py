"""Notebook 05 and ``int8-report``: the knobs that shorten the int8 study's long steps.

Each long step quantizes whole models (seconds each on an ImageNet network, whatever the image
count) and scores them on the selection fold (time grows with its images and the input size). The
notebook prints an estimate before each step (``effv2nb.core.estimate``) with the knobs that shorten it:

- ``EFFV2NB_EVAL_LIMIT=N``: at most N selection and N test images; ``EFFV2NB_SIZE=px``: the input size;
- ``EFFV2NB_TABLE_MODES=max,percentile``: the calibrate modes of the accuracy table (each gives two rows);
- ``EFFV2NB_LEVERS=N``: the first N levers (the base recipe first);
- ``EFFV2NB_SEARCH_GROUPS=stages``: the sensitivity ranking by stage instead of by block;
- ``EFFV2NB_SEARCH_STEPS=N``: at most N greedy float-fallback steps;
- ``EFFV2NB_EMULATED_IMAGES=N``: images for the emulated AVX2 run (0 skips it).

Under ``EFFV2NB_QUICK=1`` (CI) each has a smaller default; the code path is the same. A value that
cannot be read is refused, naming the variable.
"""
from __future__ import annotations

import os

from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import sized

MODES = ("max", "percentile", "kl_divergence")
GROUP_LEVELS = ("blocks", "stages")
TABLE_MODES_ENV, LEVERS_ENV = "EFFV2NB_TABLE_MODES", "EFFV2NB_LEVERS"
SEARCH_GROUPS_ENV, SEARCH_STEPS_ENV = "EFFV2NB_SEARCH_GROUPS", "EFFV2NB_SEARCH_STEPS"
EMULATED_IMAGES_ENV = "EFFV2NB_EMULATED_IMAGES"


def _count(env: str, default, low: int = 0):
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise Effv2nbError(f"{env}={raw!r}: not a whole number") from None
    if n < low:
        raise Effv2nbError(f"{env}={n}: at least {low}")
    return n


def table_modes() -> tuple:
    """Calibrate modes of the accuracy table: all three; under quick ``max`` and ``percentile``."""
    raw = os.environ.get(TABLE_MODES_ENV, "").strip()
    if not raw:
        return sized(MODES, MODES[:2])
    modes = tuple(m.strip() for m in raw.split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise Effv2nbError(f"{TABLE_MODES_ENV}={raw!r}: a comma-separated list of {', '.join(MODES)}")
    return modes


def levers() -> int | None:
    """How many levers (the base recipe first): None (all); under quick 4."""
    return _count(LEVERS_ENV, sized(None, 4), low=1)


def search_groups() -> str:
    """The sensitivity ranking's unit: ``blocks`` (each block); under quick ``stages`` (each stage)."""
    raw = os.environ.get(SEARCH_GROUPS_ENV, "").strip() or sized("blocks", "stages")
    if raw not in GROUP_LEVELS:
        raise Effv2nbError(f"{SEARCH_GROUPS_ENV}={raw!r}: one of {', '.join(GROUP_LEVELS)}")
    return raw


def search_steps() -> int:
    """Greedy float-fallback steps at most: 6; under quick 4."""
    return _count(SEARCH_STEPS_ENV, sized(6, 4))


def emulated_images(model_name: str) -> int:
    """Images for the emulated AVX2 run (about 70 times slower than native): 16 for tiny (under quick 4:
    notebook 05's "loses more than 3 dB" still holds, and the cell takes ~26 s instead of ~80 s); for the ImageNet models 2, under quick 1."""
    return _count(EMULATED_IMAGES_ENV, sized(16, 4) if model_name == "tiny" else sized(2, 1))


STEP_KNOBS = {"table": (TABLE_MODES_ENV,), "levers": (LEVERS_ENV,), "sensitivity": (SEARCH_GROUPS_ENV,),
              "greedy": (SEARCH_STEPS_ENV,), "peers": (), "test": (), "emulated": (EMULATED_IMAGES_ENV,)}


def knobs(step: str, images: int, size: int, model_name: str = "") -> list:
    """The knobs that shorten ``step`` (a key of ``STEP_KNOBS``), each as ``ENV=... (now ...)``.

    ``images``: the images the step runs on (the selection or test fold; for ``peers`` the calibration arrays).
    """
    now = {TABLE_MODES_ENV: ("max", lambda: ",".join(table_modes())),
           LEVERS_ENV: ("N", lambda: levers() or "all"),
           SEARCH_GROUPS_ENV: ("stages", search_groups),
           SEARCH_STEPS_ENV: ("N", search_steps),
           EMULATED_IMAGES_ENV: ("N", lambda: emulated_images(model_name))}
    out = [f"EFFV2NB_EVAL_LIMIT=N (now {images} images)", f"EFFV2NB_SIZE=px (now {size})"]
    if step == "peers":     # NNCF calibrates on the calibration fold
        out = [f"EFFV2NB_SIZE=px (now {size})", f"a smaller EFFV2NB_CALIB_DIR (now {images} calibration images)"]
    elif step == "emulated":
        out = []
    for env in STEP_KNOBS[step]:
        form, value = now[env]
        out.append(f"{env}={form} (now {value()})")
    return out
