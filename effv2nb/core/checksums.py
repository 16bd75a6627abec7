"""File checksums: notebooks 00 and 03, ``train-tiny`` (the weights' ``.sha256``) and ``compile`` (``mod.json``)."""
from __future__ import annotations

import hashlib


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes, as hex, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
