"""Paths and run-size settings shared by notebooks, CLI and tests."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = PACKAGE_DIR.parent
DATA_DIR = REPO_DIR / "data"
DIGITS_DIR = DATA_DIR / "digits"
TINY_WEIGHTS = DATA_DIR / "tiny_digits.safetensors"


def quick() -> bool:
    """True when CI-sized parameters are asked for (``EFFV2NB_QUICK=1``).

    pytest sets it (tests/conftest.py) so the notebooks it executes run small;
    the code path is the same, only counts shrink.
    """
    return os.environ.get("EFFV2NB_QUICK", "0").lower() in ("1", "true", "yes")


def sized(full, quick_value):
    """Pick the CI-sized value under ``EFFV2NB_QUICK=1``, else the full one."""
    return quick_value if quick() else full


SIZE_ENV = "EFFV2NB_SIZE"


def image_size(default: int) -> int:
    """The input size for notebooks 02-06: ``EFFV2NB_SIZE`` when set, else ``default`` (the model's own).

    A smaller size (e.g. 128 for rw_t) is how CI runs the ImageNet models' path on 2 cores; the code
    path is the same. A value that is not a whole number from 32 to 1024 is refused, naming the variable.
    """
    from effv2nb.core.errors import Effv2nbError

    raw = os.environ.get(SIZE_ENV, "").strip()
    if not raw:
        return int(default)
    try:
        size = int(raw)
    except ValueError:
        raise Effv2nbError(f"{SIZE_ENV}={raw!r}: not a whole number of pixels") from None
    if not 32 <= size <= 1024:
        raise Effv2nbError(f"{SIZE_ENV}={size}: an input size from 32 to 1024 pixels")
    return size


WORK_ENV = "EFFV2NB_WORK"


def work_dir(notebook: str) -> Path:
    """The work folder of notebook ``notebook`` (``"02"`` ... ``"06"``): ``EFFV2NB_WORK``, else a fresh
    temporary folder ``effv2nb-<notebook>-*``, so nothing lands in the repository. Created; absolute."""
    import tempfile

    raw = os.environ.get(WORK_ENV)
    work = Path(raw).expanduser() if raw else Path(tempfile.mkdtemp(prefix=f"effv2nb-{notebook}-"))
    work.mkdir(parents=True, exist_ok=True)
    return work.resolve()
