"""Every notebook and command that writes a file (notebooks 00-06; ``train-tiny``, ``compile``, ``infer``, ...).

Write files so that a crash or a full disk never leaves a half-written one and never loses the old one.

Everything the suite writes goes to a temporary name in the target's folder and is renamed into
place only when complete (``os.replace`` is atomic on one filesystem). Files that belong together
(a compiled model and its manifest, weights and their checksum) are renamed as a group: when one
rename fails, the ones already done are rolled back, so the folder shows either all old or all
new files.

When the file system says no — the folder cannot be created, it is read-only or not writable,
the disk is full, a file-size limit is hit — the ``OSError`` becomes one ``Effv2nbError`` line that
names the file (or folder) and the cause, e.g.
``out/mod.onnx: cannot write: No space left on device [ENOSPC]``. The temporary file is removed
and the earlier file, if any, is left as it was.

Safety: the temporary file is created exclusively (``mkstemp``); a symbolic link standing at the
target or at its ``.bak`` is replaced, never followed, so a link cannot redirect a write into
another file. Temporary names (``.<name>.effv2nb-<pid>-<random>.tmp``) carry the writer's process
id; those left behind by a process that was killed hard are removed the next time a file is
written into that folder.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import shutil
import tempfile
from pathlib import Path

from effv2nb.core.errors import Effv2nbError

_TEMP_RE = re.compile(r"^\.(.+)\.effv2nb-(\d+)-[A-Za-z0-9_]+\.tmp$")
_SWEPT: set = set()    # folders already swept by this process

# errno -> a few words that help more than the system's own message
_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
}


def backup_path(target) -> Path:
    target = Path(target)
    return target.with_name(target.name + ".bak")


def _fsize_limit() -> int | None:
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def describe_os_error(exc: OSError) -> str:
    """The cause of an ``OSError`` in a few words: the system's message, the errno name, a hint."""
    code = errno.errorcode.get(exc.errno or -1, "")
    text = exc.strerror or str(exc) or type(exc).__name__
    if code:
        text += f" [{code}]"
    hint = _HINTS.get(exc.errno)
    if exc.errno == errno.EFBIG and _fsize_limit() is not None:
        hint = f"the file-size limit of this process (ulimit -f) is {_fsize_limit()} bytes"
    return f"{text} ({hint})" if hint else text


def public_name(path) -> Path:
    """The file a temporary path stands for (``.mod.onnx.effv2nb-12-k2j.tmp`` -> ``mod.onnx``); others unchanged."""
    p = Path(os.fsdecode(path)) if isinstance(path, (str, bytes, os.PathLike)) else Path(str(path))
    while True:
        m = _TEMP_RE.match(p.name)
        if not m:
            return p
        p = p.with_name(m.group(1))


def os_error(exc: OSError, target=None, action: str = "write") -> Effv2nbError:
    """A one-line ``Effv2nbError`` for an ``OSError`` met while writing ``target``.

    Names the file the system named (a temporary file by the file it stands for), else ``target``,
    and the cause.
    """
    tgt = None if target is None else public_name(target)
    named = None if exc.filename is None else public_name(exc.filename)
    if named is not None and tgt is not None and named != tgt:
        return Effv2nbError(f"cannot {action} {tgt}: {describe_os_error(exc)}", named)
    return Effv2nbError(f"cannot {action}: {describe_os_error(exc)}", named or tgt)


def put_bytes(tmp, data: bytes) -> None:
    """Write ``data`` to a temporary path; an ``OSError`` carries the path (``file.write`` gives none)."""
    try:
        Path(tmp).write_bytes(data)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(tmp)
        raise


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.effv2nb-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def sweep_stale(folder, force: bool = False) -> list:
    """Remove the temporary files in ``folder`` left by processes that no longer run; returns them.

    Done once per folder and process (``force`` to repeat), so writing many files into one
    folder does not list it again for each.
    """
    folder = Path(folder)
    key = os.path.abspath(folder)
    if key in _SWEPT and not force:
        return []
    _SWEPT.add(key)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m:
            continue
        pid = int(m.group(2))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


LOW_SPACE = 64 * 1024 * 1024   # bytes free below which a failed write is blamed on a full disk


def explain_truncation(folder) -> str:
    """Why files written into ``folder`` may have been cut short (a file-size limit, a nearly full
    disk), as ``" (...)"`` to append to a message; ``""`` when neither holds.

    For failures surfacing as "cannot parse" in a library that wrote a file and read it back
    without noticing that the write failed.
    """
    causes = []
    limit = _fsize_limit()
    if limit is not None:
        causes.append(f"the file-size limit of this process (ulimit -f) is {limit} bytes")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < LOW_SPACE:
        causes.append(f"only {free} bytes are free on the disk of {folder}")
    if not causes:
        return ""
    return f" ({'; '.join(causes)}: a temporary file in {folder} may have been cut short)"


def output_folder(path, within, source=None, what: str | None = None) -> Path:
    """``path``, an output folder inside ``within``: checked and tidied before a command writes there.

    With symbolic links followed it must stay inside ``within``, so a link inside a workspace
    (``<workspace>/<name>`` -> ``/etc``) cannot redirect writes out of it; the error names ``source``
    (the file that asked for ``path``) and ``what`` (its key). Temporary files that killed
    processes left there are removed.
    """
    path, within = Path(path), Path(within)
    real, real_root = os.path.realpath(path), os.path.realpath(within)
    if os.path.commonpath([real, real_root]) != real_root:
        raise Effv2nbError(f"{path} leads to {real}, outside the workspace {within} (a symbolic link?); "
                           "refusing to write there", source or path, what)
    if path.is_dir():
        sweep_stale(path, force=True)
    return path


def make_folder(folder, what: str | None = None) -> Path:
    """``mkdir -p folder``, or one ``Effv2nbError`` line naming the folder that could not be made."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise Effv2nbError("cannot create the folder: a file of that name is in the way", folder, what) from None
    except OSError as exc:
        where = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else folder
        raise Effv2nbError(f"cannot create the folder: {describe_os_error(exc)}", where, what) from None
    if not folder.is_dir():
        raise Effv2nbError("cannot create the folder: a file of that name is in the way", folder, what)
    return folder


def check_writable(folder, what: str | None = None) -> Path:
    """Prove that a file can be made in ``folder`` (creating it if needed), and leave no trace.

    For commands that work a long time before they write: they fail at once, naming the folder,
    instead of after the work. Folders created for the probe are removed again.
    """
    folder = Path(folder).absolute()
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    make_folder(folder, what)
    try:
        try:
            fd, probe = tempfile.mkstemp(prefix=_temp_prefix(folder / "probe"), suffix=".tmp", dir=folder)
        except OSError as exc:
            raise Effv2nbError(f"cannot write in this folder: {describe_os_error(exc)}", folder, what) from None
        os.close(fd)
        _unlink_quietly(probe)
    finally:
        for d in missing:                  # deepest first
            with contextlib.suppress(OSError):
                os.rmdir(d)
    return folder


def _new_temp(target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    return tmp


def _unlink_quietly(p) -> None:
    with contextlib.suppress(OSError):
        os.unlink(p)


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive ``flock`` on the folder while a group of files is renamed (best effort)."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # closing releases the lock


def _keep_old(target: Path):
    """A second name for what stands at ``target`` now (a file or a link), to put back on a rollback."""
    if not os.path.lexists(target):
        return None
    old = _new_temp(target)
    _unlink_quietly(old)
    try:
        os.link(target, old, follow_symlinks=False)       # the entry itself, not what a link points to
    except OSError:
        if target.is_symlink():
            os.symlink(os.readlink(target), old)
        else:
            shutil.copy2(target, old)
    return old


def _commit(pairs) -> None:
    """Rename each temporary file over its target; if one rename fails, undo those already done."""
    group = len(pairs) > 1
    kept, done = {}, []
    try:
        for tmp, target in pairs:
            if group:
                kept[target] = _keep_old(target)
            os.replace(tmp, target)
            done.append(target)
    except BaseException:
        for target in reversed(done):       # put the old files back (or remove the new ones)
            with contextlib.suppress(OSError):
                if kept.get(target) is not None:
                    os.replace(kept[target], target)
                else:
                    os.unlink(target)
        raise
    finally:
        for old in kept.values():
            if old is not None:
                _unlink_quietly(old)


@contextlib.contextmanager
def atomic_paths(*targets, backup: bool = False):
    """Yield temporary paths beside each target (one path, or a list for several targets); rename
    them all into place on success.

    On an exception every temporary file is removed and every target is as it was (renames
    already done are undone). An ``OSError`` becomes an ``Effv2nbError`` naming the file and the
    cause. With ``backup=True`` each existing target is first copied to ``<target>.bak``; the
    ``.bak`` is part of the group, so a failed write leaves the old ``.bak`` too.
    Several files are renamed under a lock on their folder, so two processes writing the same
    group never leave a mix of the two.
    """
    targets = [Path(t) for t in targets]
    tmps, extra = [], []
    try:
        try:
            for t in targets:
                make_folder(t.parent)
                sweep_stale(t.parent)
                tmps.append(_new_temp(t))
            yield tmps[0] if len(tmps) == 1 else list(tmps)
            pairs = []
            for tmp, t in zip(tmps, targets):
                if not tmp.exists():
                    raise Effv2nbError("nothing was written (the temporary file is gone)", t)
                if backup and t.is_file() and not t.is_symlink():
                    bak = _new_temp(backup_path(t))
                    extra.append(bak)
                    shutil.copy2(t, bak)
                    pairs.append((bak, backup_path(t)))
                pairs.append((tmp, t))
            with contextlib.ExitStack() as stack:
                if len(pairs) > 1:
                    for folder in sorted({t.parent for _, t in pairs}):
                        stack.enter_context(_folder_lock(folder))
                _commit(pairs)
        except OSError as exc:
            raise os_error(exc, targets[0]) from None
    finally:
        for tmp in tmps + extra:
            _unlink_quietly(tmp)


@contextlib.contextmanager
def atomic_path(target, backup: bool = False):
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On an exception the temporary file is removed and ``target`` is untouched.
    With ``backup=True`` an existing ``target`` is first copied to ``target.bak``.
    """
    with atomic_paths(target, backup=backup) as tmp:
        yield tmp


def write_bytes(target, data: bytes, backup: bool = False) -> Path:
    with atomic_path(target, backup=backup) as tmp:
        put_bytes(tmp, data)
    return Path(target)


def write_text(target, text: str, backup: bool = False) -> Path:
    return write_bytes(target, text.encode("utf-8"), backup=backup)


def write_many(files: dict, backup: bool = False) -> list:
    """Write several files (``{path: bytes}``) as one group: all of them are replaced, or none."""
    targets = list(files)
    with atomic_paths(*targets, backup=backup) as tmps:
        tmps = tmps if isinstance(tmps, list) else [tmps]
        for tmp, t in zip(tmps, targets):
            put_bytes(tmp, files[t])
    return [Path(t) for t in targets]


def open_journal(path, keep_bytes: int = 0):
    """The one file the suite appends to in place: a streamed result's ``.partial`` (``effv2nb.device.journal``).

    Cut back to its first ``keep_bytes`` (0: emptied, or created) and opened for appending, binary.
    Not atomic by design: the journal's state file, written atomically, says how many bytes are valid.
    """
    path = Path(path)
    try:
        if keep_bytes:
            with open(path, "r+b") as fh:
                fh.truncate(int(keep_bytes))
        else:
            with open(path, "wb"):
                pass
        return open(path, "ab")
    except OSError as exc:
        raise os_error(exc, path) from None
