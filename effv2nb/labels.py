"""Class labels: ImageNet-1k from timm (synset <-> index <-> name) or a one-per-line label file."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import Effv2nbError


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
    """A label file: one class name per line, in index order (blank lines at the end ignored)."""
    from .textio import read_text

    path = Path(path)
    text = read_text(path, "label file")
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise Effv2nbError("label file holds no class names", path)
    for i, n in enumerate(names, 1):
        if not n:
            raise Effv2nbError("empty class name", path, f"line {i}")
    return Labels(names=tuple(names), source=str(path))
