"""Every notebook and command: the one error type, shown as one line (CLI exit status 2).

The suite's own error type: every user-facing failure is one of these."""
from __future__ import annotations

import re

# everything str.splitlines() breaks on: keys and values quoted from user files may hold them
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class Effv2nbError(Exception):
    """A problem with the user's input, named by file and, where known, key or line.

    ``str(err)`` is the one-line message shown on the CLI and in widgets (line breaks that come
    from quoted user text are escaped, so it is one line whatever the input).
    """

    def __init__(self, message: str, path=None, where: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.where = where
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.path, self.where) if p]
        prefix = ": ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        # one line, always: a line break quoted from the user's file is shown escaped
        return _LINE_BREAKS.sub(lambda m: ascii(m.group())[1:-1], text)


def one_of(values) -> str:
    """The allowed values as a message lists them: ``one of a, b, c``."""
    return "one of " + ", ".join(str(v) for v in values)


def raise_problems(errors):
    """Raise the first error, mentioning how many more there are (all kept in ``.problems``)."""
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    err = Effv2nbError(first.message + more, first.path, first.where)
    err.problems = list(errors)
    raise err
