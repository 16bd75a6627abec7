"""The suite's own error type: every user-facing failure is one of these."""
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
