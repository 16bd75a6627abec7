"""Notebook 04, ``python -m effv2nb infer [--resume]``: the result file written as the run goes, resumable.

A long ``infer`` (ImageNet's 50,000 images) writes its result lines as batches finish, in path
order, to ``<result>.partial`` beside the result file, and every second or so records how far it
got in ``.<result>.resume.json``: the images done (a count over the sorted image list, always at a
batch boundary), the bytes of ``.partial`` that hold them, the images skipped (path and reason),
and the run's identity (``effv2nb.device.run_identity``). When the last image is done the partial
file is renamed over the result file (an earlier result file is kept as ``<result>.bak``) and the
state file is removed: the result file is never half written.

Killed at any point (``kill -9``, a full disk), the run leaves those two files. ``--resume`` with
the same arguments cuts ``.partial`` back to the recorded length (a line half written after the
last record is dropped), skips the images it counts and goes on from there, with the same batch
boundaries: the final file is byte-identical to an uninterrupted run's. ``--resume`` with
arguments that change the result is refused, in one line naming what differs. Without
``--resume`` an interrupted run's files are discarded (and it says how many images that was).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from pathlib import Path

from effv2nb.core import atomic
from effv2nb.core.errors import Effv2nbError
from effv2nb.device.run_identity import differences

VERSION = 1
COMMIT_EVERY_S = 1.0


def partial_path(target) -> Path:
    target = Path(target)
    return target.with_name(target.name + ".partial")


def state_path(target) -> Path:
    target = Path(target)
    return target.with_name(f".{target.name}.resume.json")


def _fsync(fh) -> None:
    """Flush to the disk; a file object without a descriptor (a wrapper) is only flushed."""
    fh.flush()
    try:
        fd = fh.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return
    os.fsync(fd)


def read_state(target) -> dict | None:
    """The recorded progress of an interrupted run into ``target``, or None when there is none."""
    p = state_path(target)
    if not p.is_file():
        return None
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
        if state.get("version") != VERSION or not isinstance(state.get("done"), int):
            raise ValueError("unknown layout")
        return state
    except (ValueError, OSError) as exc:
        raise Effv2nbError(f"cannot read the resume state ({exc}); delete it to start afresh", p) from None


class ResultJournal:
    """Appends result text for a run into ``target`` and records progress (see the module docstring).

    ``open()`` -> ``(done, skipped)``: where to start (0 and [] for a fresh run). ``add(done, text,
    skipped)`` after each batch, ``finish()`` at the end; ``close()`` always (it records what is done).
    """

    def __init__(self, target, identity: dict, resume: bool = False, log=print):
        self.target = Path(target)
        self.identity = identity
        self.resume = resume
        self.log = log
        self.partial = partial_path(self.target)
        self.state_file = state_path(self.target)
        self.fh = None
        self.done = 0
        self.bytes = 0
        self.skipped: list = []
        self._last_commit = 0.0
        self._committed = (0, 0)

    # ---------------------------------------------------------------- start
    def open(self):
        atomic.make_folder(self.target.parent)
        state = read_state(self.target)
        if state is not None and self.resume:
            diff = differences(state.get("identity", {}), self.identity)
            if diff:
                raise Effv2nbError(f"cannot --resume: {'; '.join(diff)} (run without --resume to start afresh)",
                                   self.state_file)
            size = self.partial.stat().st_size if self.partial.is_file() else -1
            if size < 0 and self.target.is_file() and self.target.stat().st_size == state["bytes"]:
                os.replace(self.target, self.partial)   # killed between the final rename and the state's removal
                size = state["bytes"]
            if size < state["bytes"]:
                raise Effv2nbError(f"cannot --resume: {self.partial.name} holds {max(size, 0)} bytes, the state "
                                   f"records {state['bytes']} (run without --resume to start afresh)", self.partial)
            self.done, self.bytes = state["done"], state["bytes"]
            self.skipped = [tuple(s) for s in state.get("skipped", [])]
        else:
            if state is not None:
                self.log(f"note: an interrupted run's {state['done']} images in {self.partial.name} are discarded "
                         "(--resume continues such a run)")
            elif self.resume:
                self.log(f"note: nothing to resume in {self.target.parent} (no {self.state_file.name}); "
                         "starting from the first image")
            atomic.sweep_stale(self.target.parent)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.state_file)
        self.fh = atomic.open_journal(self.partial, self.bytes)    # cut back to what the state records
        self._committed = (self.done, self.bytes)
        self._commit(force=True)
        return self.done, list(self.skipped)

    # ---------------------------------------------------------------- progress
    def add(self, done: int, text: str, skipped=()) -> None:
        """The lines of the images up to ``done`` (a count over the sorted list) and those skipped among them."""
        data = text.encode("utf-8")
        try:
            self.fh.write(data)
        except OSError as exc:
            raise atomic.os_error(exc, self.partial) from None
        self.bytes += len(data)
        self.done = int(done)
        self.skipped.extend(tuple(s) for s in skipped)
        self._commit()

    def _commit(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < COMMIT_EVERY_S:
            return
        if (self.done, self.bytes) == self._committed and not force:
            return
        try:
            _fsync(self.fh)
        except OSError as exc:
            raise atomic.os_error(exc, self.partial) from None
        state = {"version": VERSION, "done": self.done, "bytes": self.bytes,
                 "skipped": [list(map(str, s)) for s in self.skipped], "identity": self.identity,
                 "result": self.target.name}
        atomic.write_text(self.state_file, json.dumps(state, indent=1) + "\n")
        self._committed = (self.done, self.bytes)
        self._last_commit = now

    # ---------------------------------------------------------------- end
    def finish(self) -> Path:
        """Rename the complete ``.partial`` over the result file (an earlier one kept as ``.bak``)."""
        self._commit(force=True)
        self.fh.close()
        self.fh = None
        try:
            if self.target.is_file() and not self.target.is_symlink():
                with atomic.atomic_path(atomic.backup_path(self.target)) as tmp:
                    shutil.copy2(self.target, tmp)
            os.replace(self.partial, self.target)
        except OSError as exc:
            raise atomic.os_error(exc, self.target) from None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.state_file)
        return self.target

    def close(self) -> None:
        """Record what is done (after an error too) and close the partial file."""
        if self.fh is None:
            return
        with contextlib.suppress(OSError, Effv2nbError):
            self._commit(force=True)
        with contextlib.suppress(OSError):
            self.fh.close()
        self.fh = None
