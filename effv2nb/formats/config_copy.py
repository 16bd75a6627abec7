"""Notebooks 03-05 and ``int8-report``: a shipped build YAML adapted to this run, written beside the work.

The shipped configs (``data/configs/``) point at the export command's file names and a calibration
folder relative to themselves, at the model's own input size. ``copy_config`` writes a copy with
relative paths made absolute and the run's own checkpoint, calibration folder, workspace, name and
input size (``frontend.shape`` with the ``Resize`` / ``CenterCrop`` sizes of ``dataset.process_ops``);
every other key is kept as written (``docs/vendor-files.md``, section "Build YAML").
"""
from __future__ import annotations

import os
from pathlib import Path

from effv2nb.core import atomic
from effv2nb.core.errors import Effv2nbError
from effv2nb.formats.build_config import dump_yaml, read_yaml


def section(raw: dict, *keys) -> dict:
    """``raw[k1][k2]...``, made a mapping where missing or not one."""
    d = raw
    for k in keys:
        if not isinstance(d.get(k), dict):
            d[k] = {}
        d = d[k]
    return d


def _resize(raw: dict, size: int, path) -> None:
    shape = section(raw, "frontend", "shape")
    for name, dims in shape.items():
        if not (isinstance(dims, list) and len(dims) == 4):
            raise Effv2nbError("expected [N, C, H, W] to change the input size", path, f"frontend.shape.{name}")
        shape[name] = [dims[0], dims[1], int(size), int(size)]
    for op in section(raw, "dataset").get("process_ops") or []:
        if isinstance(op, dict) and op.get("type") == "Resize" and "size" in op:
            op["size"] = [int(size), int(size)]
        if isinstance(op, dict) and op.get("type") == "CenterCrop" and "crop_size" in op:
            op["crop_size"] = [int(size), int(size)]


def adapt(raw: dict, base_dir, checkpoint=None, calib_dir=None, workspace=None, name=None, size=None,
          suffix=None, path=None) -> dict:
    """``raw`` (a build YAML as read) with relative paths resolved against ``base_dir`` and the overrides set."""
    if not isinstance(raw, dict):
        raise Effv2nbError("not a build config (a YAML mapping)", path)
    base_dir = Path(base_dir)
    for s, k in (("frontend", "checkpoint"), ("dataset", "path")):
        v = section(raw, s).get(k)
        if isinstance(v, str) and v and not Path(v).expanduser().is_absolute():
            section(raw, s)[k] = os.path.normpath(str(base_dir / v))
    if checkpoint is not None:
        section(raw, "frontend")["checkpoint"] = str(Path(checkpoint).resolve())
    if calib_dir is not None:
        section(raw, "dataset")["path"] = str(Path(calib_dir).resolve())
    if workspace is not None:
        section(raw, "workspace")["path"] = str(Path(workspace).resolve())
    if name is not None:
        raw["name"] = str(name)
    if size is not None:
        _resize(raw, size, path)
    if suffix is not None:
        section(raw, "dataset", "sampler")["suffix"] = str(suffix)
    return raw


def copy_config(base_yaml, out_yaml, edit=None, **overrides) -> Path:
    """Write ``base_yaml`` adapted by ``adapt(**overrides)`` (then ``edit(raw)`` if given) to ``out_yaml``, atomically."""
    base_yaml, out_yaml = Path(base_yaml), Path(out_yaml)
    raw = adapt(read_yaml(base_yaml), base_yaml.resolve().parent, path=base_yaml, **overrides)
    if edit is not None:
        edit(raw)
    atomic.write_text(out_yaml, dump_yaml(raw))
    return out_yaml
