"""Read a user's text file (config, vdsp JSON, label list, result file, datalist) or say why not."""
from __future__ import annotations

from pathlib import Path

from .errors import Effv2nbError


def read_text(path, what: str = "file") -> str:
    """UTF-8 text of ``path``; a missing, unreadable or binary file is an ``Effv2nbError`` naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Effv2nbError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise Effv2nbError(f"is a folder, not a {what}", path) from None
    except UnicodeDecodeError:
        raise Effv2nbError(f"cannot read {what}: not UTF-8 text (a binary file?)", path) from None
    except OSError as exc:
        raise Effv2nbError(f"cannot read {what}: {exc.strerror or exc}", path) from None
