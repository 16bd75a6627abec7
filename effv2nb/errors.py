"""The suite's own error type: every user-facing failure is one of these."""
from __future__ import annotations


class Effv2nbError(Exception):
    """A problem with the user's input, named by file and, where known, key or line.

    ``str(err)`` is the one-line message shown on the CLI and in widgets.
    """

    def __init__(self, message: str, path=None, where: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.where = where
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.path, self.where) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message
