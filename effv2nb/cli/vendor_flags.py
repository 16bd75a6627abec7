"""``python -m effv2nb`` (every command): the vendor's flag spellings next to the suite's, errors naming the flag as written.

- ``OneLineParser``: argparse's errors ("invalid int value", "expected one argument", "invalid choice",
  a missing required flag) as one line on stderr, exit status 2, naming each flag the way the user spelled
  it (``--file_path`` or ``--file-path``), not argparse's ``--file-path/--file_path``.
- ``as_written(parser, argv, error)``: an ``Effv2nbError`` whose ``where`` (or message) names one spelling
  of a flag is re-worded with the spelling the user typed (``effv2nb.cli.main`` applies it to every error).
- ``DeviceAction``: ``--device N`` / ``-d N`` is accepted; without the vendor runtime it is printed as
  ignored by the ONNX Runtime stand-in.
"""
from __future__ import annotations

import argparse
import re
import sys

from effv2nb.core.errors import Effv2nbError


def _typed(token: str) -> str:
    return token.split("=", 1)[0] if token.startswith("--") else token[:2] if token.startswith("-") else token


def spelled(action, argv) -> str | None:
    """The option string of ``action`` the user typed in ``argv`` (None when it was not given)."""
    typed = {_typed(t) for t in argv if t.startswith("-")}
    for opt in action.option_strings:
        if opt in typed:
            return opt
    return None


def _name(action, argv) -> str:
    return spelled(action, argv) or (action.option_strings[0] if action.option_strings else action.dest)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the flag as the user wrote it."""

    argv: list = []

    def error(self, message):
        argv = OneLineParser.argv
        for action in self._actions:
            if action.option_strings:
                joined = "/".join(action.option_strings)
                message = message.replace(f"argument {joined}:", f"argument {_name(action, argv)}:")
                if "the following arguments are required" in message and joined in message:
                    message = message.replace(joined, action.option_strings[0])
        print(f"error: {self.prog}: {message} (--help lists the flags)", file=sys.stderr)
        raise SystemExit(2)


def as_written(parser, argv, error: Effv2nbError) -> Effv2nbError:
    """``error`` re-worded so that a flag it names is the spelling the user typed."""
    if parser is None:
        return error
    where, message = error.where, error.message
    for action in parser._actions:
        said = spelled(action, argv)
        if not said:
            continue
        for opt in action.option_strings:
            if opt == said:
                continue
            if where == opt:
                where = said
            message = re.sub(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", said, message)
    if (where, message) == (error.where, error.message):
        return error
    new = Effv2nbError(message, error.path, where)
    if hasattr(error, "problems"):
        new.problems = error.problems
    return new


def vendor_runtime() -> bool:
    """Whether the vendor's runtime (``vaststreamx``) is importable here."""
    from effv2nb.device.vendor_tools import vendor_tools

    return vendor_tools()["vaststreamx"]


class DeviceAction(argparse.Action):
    """``--device N``: stored; said to be ignored when ONNX Runtime stands in for the device."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        if not vendor_runtime():
            print(f"note: {option_string} {values}: ignored by the ONNX Runtime stand-in "
                  "(the vendor runtime vaststreamx is not installed here)", file=sys.stderr)
