"""Store the browser test's screenshots of the two widgets as the static pictures notebooks 00 and 03 show.

    python -m pytest tests/browser/test_jupyterlab.py      # writes screenshots/ (or EFFV2NB_SCREENSHOTS)
    python tools/store_widget_pictures.py                  # -> notebooks/images/*.png

A stored notebook keeps no widget state, so where the live widget cannot be drawn (a code host, a
notebook not run yet) the picture beside it shows what the browser test saw. The config form's first
rows name the test's temporary files and its last row the file it saved: both are cut off.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "notebooks" / "images"
# screenshot name -> (stored name, pixels cut from the top, pixels cut from the bottom)
PICTURES = {"00_quickstart_upload_widget": ("00_upload_widget.png", 0, 0),
            "03_compile_config_form": ("03_config_form.png", 56, 40)}


def main() -> int:
    shots = Path(os.environ.get("EFFV2NB_SCREENSHOTS") or REPO / "screenshots")
    OUT.mkdir(parents=True, exist_ok=True)
    for shot, (name, top, bottom) in PICTURES.items():
        src = shots / f"{shot}.png"
        if not src.is_file():
            print(f"error: {src}: not found; run the browser test first", file=sys.stderr)
            return 1
        with Image.open(src) as im:
            im.crop((0, top, im.width, im.height - bottom)).save(OUT / name, optimize=True)
        print(f"{src} -> {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
