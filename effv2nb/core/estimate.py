"""Notebooks 04-06 and ``int8-report``: how long a long step will take on this machine, said before it runs.

``Estimate`` times the first unit of work (a batch, a recipe, a search step), then prints one line:
the estimated total for the rest, and the knobs that shorten it (image count, size, search steps)::

    est = Estimate("the accuracy table", units=12, unit="recipe", knobs=["EFFV2NB_EVAL_LIMIT=N images"])
    for i, recipe in enumerate(recipes):
        with est.timing(i):          # the first unit is timed; the line is printed after it
            run(recipe)
"""
from __future__ import annotations

import time
from contextlib import contextmanager


def format_seconds(s: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``: how a person reads a duration."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


MIN_WORTH_SAYING_S = 1.0     # a step shorter than this gets no estimate ("0 s" tells a reader nothing)


def estimate_line(what: str, first_s: float, done: int, total: int, unit: str = "unit", knobs=()) -> str | None:
    """One line: ``estimated time for <what> on this machine: <t> (<total> <unit>s, timed on the first <done>)``;
    None when the whole step takes under a second."""
    done = max(int(done), 1)
    rest = first_s / done * max(int(total), done)
    if rest < MIN_WORTH_SAYING_S:
        return None
    line = (f"estimated time for {what} on this machine: {format_seconds(rest)} "
            f"({total} {unit}{'s' if total != 1 else ''}, timed on the first {done})")
    if knobs:
        line += "; shorter with " + ", ".join(knobs)
    return line


class Estimate:
    """Time the first ``first`` units of a loop, then print the estimated total once."""

    def __init__(self, what: str, units: int, unit: str = "unit", knobs=(), first: int = 1, log=print):
        self.what, self.units, self.unit, self.knobs = what, int(units), unit, tuple(knobs)
        self.first, self.log = max(int(first), 1), log
        self.spent, self.line = 0.0, None

    @contextmanager
    def timing(self, index: int):
        """Wrap unit ``index`` (0-based) of the loop; after the first units, print the estimate."""
        t0 = time.perf_counter()
        yield
        if index < self.first:
            self.spent += time.perf_counter() - t0
            if index == min(self.first, self.units) - 1 and self.units > 0:
                self.line = estimate_line(self.what, self.spent, index + 1, self.units, self.unit, self.knobs)
                if self.line:
                    self.log(self.line)


def say(what: str, first_s: float, done: int, total: int, unit: str = "unit", knobs=(), log=print) -> str | None:
    """Print ``estimate_line``'s line, when there is one (a step of a second or more)."""
    line = estimate_line(what, first_s, done, total, unit, knobs)
    if line:
        log(line)
    return line
