"""Notebooks 04-05, ``infer``, ``npz-decode``, ``eval-topk``: the result file (docs/vendor-files.md, section "Result file").

The vendor's inference result file: write it exactly, read it robustly.

One line per (image, rank), best first, k = 0..4::

    <image path>: Relay top-<k> id: <class index>, prob: <score, 8 decimals>, class name: <class name>

Reading does not split on ``:`` (paths and class names may hold colons): each line is matched
by a regular expression anchored on the fixed words. The file is read as other tools write it
(``effv2nb.core.textio``: a UTF-8 byte-order mark is dropped, CRLF and CR line endings are line
endings, as for the vendor's scorer). Blank lines are skipped; a line that does not match is an
error naming its line number (and, where it can tell, the field: a non-numeric id, a
probability that is not a number, or not a finite one: ``nan``, ``inf``, ``1e400``). Lines of one image are consecutive, k counting from 0,
and every image has the same number of lines (a shorter group — e.g. four lines where the
others have five — is an error naming its first line). Whether an id is a valid class index
depends on the labels, so ``effv2nb.device.evaluate`` checks that.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from effv2nb.core import atomic
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.textio import normalize_text, split_lines

LINE_RE = re.compile(
    r"^(?P<path>.+?): Relay top-(?P<k>\d+) id: (?P<id>\d+), prob: (?P<prob>[-+0-9.eE]+|nan|inf|-inf),"
    r" class name: (?P<name>.*)$")


@dataclass
class Record:
    """One image's top-k: class indices, scores and names, best first; ``line`` = its first line number."""

    path: str
    ids: list = field(default_factory=list)
    probs: list = field(default_factory=list)
    names: list = field(default_factory=list)
    line: int = 0


def format_line(path, k: int, index: int, prob: float, name: str) -> str:
    """One result line; a score that is not a finite number is an ``Effv2nbError`` (no reader takes it)."""
    if not math.isfinite(float(prob)):
        raise Effv2nbError(f"the model gave a score of {float(prob)} for top-{k} (class {int(index)}); "
                           "a result file holds finite numbers only", path)
    return f"{path}: Relay top-{k} id: {int(index)}, prob: {float(prob):.8f}, class name: {name}"


def format_record(path, ids, probs, names) -> str:
    return "".join(format_line(path, k, i, p, n) + "\n" for k, (i, p, n) in enumerate(zip(ids, probs, names)))


def write(target, records) -> Path:
    """Write ``Record``s (or ``(path, ids, probs, names)`` tuples) atomically; returns the path."""
    parts = []
    for r in records:
        if isinstance(r, Record):
            parts.append(format_record(r.path, r.ids, r.probs, r.names))
        else:
            parts.append(format_record(*r))
    return atomic.write_text(target, "".join(parts))


def parse_text(text: str, source="<text>") -> list:
    """Parse result-file text into ``Record``s (see the module docstring for the rules)."""
    records: list[Record] = []
    current = None
    for n, line in enumerate(split_lines(normalize_text(text, source, "result file")), 1):
        if not line.strip():
            continue
        m = LINE_RE.match(line)
        if not m:
            raise Effv2nbError(_diagnose(line), source, f"line {n}")
        try:
            k, index, prob = _number(int, m, "k", "rank top-"), _number(int, m, "id", "class id "), \
                _number(float, m, "prob", "prob ")
        except ValueError as exc:   # "prob: 1.2.3", or thousands of digits (Python's int-size guard)
            raise Effv2nbError(str(exc), source, f"line {n}") from None
        if not math.isfinite(prob):
            shown = m["prob"] if len(m["prob"]) <= 20 else m["prob"][:20] + "..."
            raise Effv2nbError(f"prob '{shown}' is not a finite number", source, f"line {n}")
        path = m["path"]
        if current is not None and path == current.path and k == len(current.ids):
            pass
        elif k == 0:
            current = Record(path=path, line=n)
            records.append(current)
        else:
            expected = len(current.ids) if current is not None and path == current.path else 0
            raise Effv2nbError(f"top-{k} out of order (expected top-{expected} for {path})", source, f"line {n}")
        current.ids.append(index)
        current.probs.append(prob)
        current.names.append(m["name"])
    _check_group_sizes(records, source)
    return records


def _number(kind, m, group, what):
    text = m[group]
    try:
        return kind(text)
    except ValueError:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise ValueError(f"{what}'{shown}' is not a {'number' if kind is float else 'usable integer'}") from None


_LOOSE_RE = re.compile(r"^(?P<path>.+?): Relay top-(?P<k>\S*) id: (?P<id>[^,]*), prob: (?P<prob>[^,]*), class name: ")


def _diagnose(line: str) -> str:
    """Why a line is not a result line, as precisely as the line allows."""
    m = _LOOSE_RE.match(line)
    if m:
        if not m["k"].isdigit():
            return f"rank 'top-{m['k'][:20]}' is not top-<number>"
        if not m["id"].strip().isdigit():
            return f"class id '{m['id'][:20]}' is not a non-negative integer"
        return f"prob '{m['prob'][:20]}' is not a number"
    return "not a result line (expected '<path>: Relay top-<k> id: <index>, prob: <p>, class name: <name>')"


def _check_group_sizes(records, source) -> None:
    """Every image has the same number of lines (top-0 .. top-(k-1)); a shorter group is an error.

    A group cut short is what a truncated or hand-edited file looks like; scoring it would count
    a top-5 miss that is really a missing line.
    """
    if len(records) < 2:
        return
    want = max(len(r.ids) for r in records)
    for r in records:
        if len(r.ids) != want:
            raise Effv2nbError(
                f"{r.path} has {len(r.ids)} result line(s) (top-0..top-{len(r.ids) - 1}), other images have "
                f"{want} (truncated or edited file?)", source, f"line {r.line}")


def read(path) -> list:
    """Read and parse a result file."""
    from effv2nb.core.textio import read_text

    return parse_text(read_text(path, "result file"), Path(path))


def per_image(records) -> int:
    """Predictions per image the records carry (every image has as many; 0 for none)."""
    return min((len(r.ids) for r in records), default=0)
