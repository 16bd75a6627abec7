"""Every notebook and command that reads a user's text file (notebooks 03-05; ``config``, ``infer``, ``eval-topk``, ``npz-decode``).

Read a user's text file (config, vdsp JSON, label list, result file, datalist) or say why not.

Text is read the way editors and other systems write it, with the same result as a clean file:

- a UTF-8 byte-order mark at the start is dropped (it never reaches a key, a path or a class name);
- Windows (CRLF) and old Mac (CR) line endings become ``\\n``.

What is not unambiguous is refused in one line naming the file: UTF-16 or UTF-32 text (with or
without a byte-order mark), NUL bytes, bytes that are not UTF-8 (another encoding, or two
encodings mixed in one file: the message gives the line), and a byte-order mark in the middle of
the text (two files joined together).
"""
from __future__ import annotations

import codecs
from pathlib import Path

from effv2nb.core.errors import Effv2nbError

# longest first: the UTF-32 LE mark starts with the UTF-16 LE one
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def decode_text(data: bytes, path=None, what: str = "file") -> str:
    """The text of ``data`` (UTF-8, BOM dropped, line endings made ``\\n``), or an ``Effv2nbError``."""
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise Effv2nbError(f"cannot read {what}: not UTF-8 but {name} text (byte-order mark "
                               f"{bom.hex(' ').upper()}); save it as UTF-8", path)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        wide = len(data) >= 4 and (data[1::2].count(0) > len(data) // 4 or data[0::2].count(0) > len(data) // 4)
        why = "UTF-16 text without a byte-order mark?" if wide else "a binary file?"
        raise Effv2nbError(f"cannot read {what}: not UTF-8 text (NUL bytes, {why}); save it as UTF-8", path,
                           f"line {line}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.start + 1].hex().upper()
        raise Effv2nbError(f"cannot read {what}: not UTF-8 text (byte 0x{bad}: another encoding, or two "
                           "mixed in one file?); save it as UTF-8", path, f"line {line}") from None
    return normalize_text(text, path, what)


def normalize_text(text: str, path=None, what: str = "file") -> str:
    """Already decoded text made as a clean file reads: leading byte-order mark dropped, line
    endings ``\n``; a byte-order mark further in is an ``Effv2nbError`` naming its line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\ufeff" in text:
        line = text.count("\n", 0, text.index("\ufeff")) + 1
        raise Effv2nbError(f"cannot read {what}: a byte-order mark inside the text (two files joined "
                           "together?)", path, f"line {line}")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path, what: str = "file") -> str:
    """UTF-8 text of ``path`` (see the module docstring); a missing, unreadable, binary or
    ambiguous file is an ``Effv2nbError`` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Effv2nbError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise Effv2nbError(f"is a folder, not a {what}", path) from None
    except OSError as exc:
        raise Effv2nbError(f"cannot read {what}: {exc.strerror or exc}", path) from None
    return decode_text(data, path, what)


def split_lines(text: str) -> list:
    """Lines of text from ``read_text``, split on ``\\n`` only (as Python's ``open()`` and the vendor's
    scripts read them: a form feed or U+2028 inside a class name does not end a line)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_lines(path, what: str = "file") -> list:
    """``split_lines(read_text(path, what))``."""
    return split_lines(read_text(path, what))
