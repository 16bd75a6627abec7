"""Notebooks 00, 04-05; ``infer``, ``eval-topk``, ``npz-decode``: class labels.

Class labels: ImageNet-1k from timm (synset <-> index <-> name) or a one-per-line label file.

A label file of exactly 1000 names (the vendor's ``imagenet.txt``) is read in ImageNet-1k order,
so an ImageNet synset folder (``n01440764``) names the same class with or without it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from effv2nb.core.errors import Effv2nbError

IMAGENET_CLASSES = 1000
_SYNSET_RE = re.compile(r"^n\d{8}$")


def is_synset(name: str) -> bool:
    """True for a WordNet id like ``n01440764`` (how ImageNet names its class folders)."""
    return bool(_SYNSET_RE.match(str(name)))


@dataclass(frozen=True)
class Labels:
    """Index-ordered class names, with optional synset ids (ImageNet)."""

    names: tuple
    synsets: tuple = ()
    source: str = ""
    _lookup: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        lookup = {}
        for i, n in enumerate(self.names):
            lookup.setdefault(str(n), i)
        for i, s in enumerate(self.synsets):
            lookup[str(s)] = i
        object.__setattr__(self, "_lookup", lookup)

    def __len__(self):
        return len(self.names)

    def name(self, index: int) -> str:
        return str(self.names[index])

    def index_of(self, key: str):
        """Class index for a folder name: a synset, a class name, or a decimal index; else None."""
        key = str(key)
        if key in self._lookup:
            return self._lookup[key]
        if key.isdigit() and int(key) < len(self.names):
            return int(key)
        return None


@lru_cache(maxsize=1)
def imagenet() -> Labels:
    """ImageNet-1k classes as timm knows them (no copied label list)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    synsets = tuple(info.label_names())
    names = tuple(info.index_to_description(i) for i in range(len(synsets)))
    return Labels(names=names, synsets=synsets, source="timm ImageNetInfo (imagenet-1k)")


def from_txt(path) -> Labels:
    """A label file: one class name per line, in index order (blank lines at the end ignored).

    Read as other tools write it (``effv2nb.core.textio``: no byte-order mark in the first name, CRLF or
    CR line endings). With 1000 names it also knows the ImageNet synsets (see the module docstring).
    """
    from effv2nb.core.textio import read_lines

    path = Path(path)
    names = [line.strip() for line in read_lines(path, "label file")]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise Effv2nbError("label file holds no class names", path)
    for i, n in enumerate(names, 1):
        if not n:
            raise Effv2nbError("empty class name", path, f"line {i}")
    synsets = imagenet().synsets if len(names) == IMAGENET_CLASSES else ()
    return Labels(names=tuple(names), synsets=synsets, source=str(path))
