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
