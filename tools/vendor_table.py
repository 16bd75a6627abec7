"""Regenerate README's table "The vendor's steps, as commands" from ``effv2nb.cli.vendor_steps`` (the one table).

    python tools/vendor_table.py            # rewrite the table between the vendor-steps markers in README.md
    python tools/vendor_table.py --check    # exit 1 when README's table differs (tests/test_vendor_steps.py checks it too)
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from effv2nb.cli.vendor_steps import readme_table  # noqa: E402

BEGIN = "<!-- vendor-steps:"
END = "<!-- /vendor-steps -->"


def replaced(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    marker, _, rest = rest.partition("\n")
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}{marker}\n{readme_table()}{END}{tail}"


def main(argv) -> int:
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"error: {readme}: no vendor-steps markers", file=sys.stderr)
        return 2
    new = replaced(text)
    if "--check" in argv:
        return 0 if new == text else 1
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
