"""Write files so that a crash never leaves a half-written one and never loses the old one.

Everything the suite writes goes to a temporary name in the target's folder and is
renamed into place only when complete (``os.replace`` is atomic on one filesystem).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def backup_path(target) -> Path:
    target = Path(target)
    return target.with_name(target.name + ".bak")


@contextlib.contextmanager
def atomic_path(target, backup: bool = False):
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On an exception the temporary file is removed and ``target`` is untouched.
    With ``backup=True`` an existing ``target`` is first copied to ``target.bak``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        if backup and target.exists():
            shutil.copy2(target, backup_path(target))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(target, data: bytes, backup: bool = False) -> Path:
    with atomic_path(target, backup=backup) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target, text: str, backup: bool = False) -> Path:
    return write_bytes(target, text.encode("utf-8"), backup=backup)
