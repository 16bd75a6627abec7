"""The vendor's build config (the ``vamc compile`` YAML), load / save / generate: notebook 03, ``config``, ``compile``.

The build YAML's one entry point: its vocabulary and typed model live in ``effv2nb.formats.build_schema``,
its validation in ``effv2nb.formats.build_checks``; this module reads, writes and generates files and
exposes those names. Reference: ``docs/vendor-files.md``, section "Build YAML".

Loading is ``yaml.safe_load`` then ``validate_build``: every problem names the file, the key path
(``backend.quantize.calibrate_mode``) and what is allowed. Keys the model does not know are kept
(and reported as warnings, with a did-you-mean for near misses such as the vendor's own
``alibrate_mode``). ``save_build_config`` writes the typed values back *into* the loaded mapping,
so unknown keys and the key order survive load -> save; the write is atomic and an existing
file is kept as ``<name>.bak``.

Paths: ``frontend.checkpoint`` and ``dataset.path`` resolve against the config file's folder when
relative; ``workspace.path`` against the current directory (as with the vendor's tool).
Validation only *warns* about paths that do not exist (the vendor's files carry ``/path/to/...``
placeholders); ``compile`` makes them errors.

Numbers: ``NaN`` / ``.nan`` / ``.inf`` anywhere in the file, and integers beyond 64 bits, are errors
naming their key (``effv2nb.core.numbers``); sizes are at most ``MAX_SIDE`` pixels, a batch at most
``MAX_BATCH``, counts at most 2**31 - 1, Normalize mean/std within float32. ``config check`` and
``compile`` run this same validator, so they never disagree about a value.

The file is read as other tools write it (``effv2nb.core.textio``: byte-order mark, CRLF / CR).

Suite extras under ``backend.quantize`` (the vendor tool ignores keys it does not know):
``reduce_range`` (true, false or auto: see ``effv2nb.quant.int8_guard``), ``nodes_to_exclude`` (list of node names), ``activation_type`` and
``weight_type`` (``int8`` / ``uint8``), ``calib_chunk_size`` (images per calibration chunk),
``calib_percentile`` (the percentile of ``calibrate_mode: percentile``; ONNX Runtime's 99.999 when unset); and under
``dataset.sampler``, ``pick``: ``first`` (the vendor's sampler, the default: the first ``get_data_num``
files in sorted order) or ``spread`` (evenly spaced over the sorted list, so every class is seen; the
suite's shipped configs use it).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from effv2nb.core.atomic import write_text
from effv2nb.core.errors import Effv2nbError, raise_problems  # noqa: F401  (part of this module's API)
from effv2nb.formats.build_checks import validate_build
from effv2nb.formats.build_schema import (  # noqa: F401  (the build YAML's API, used as config.X)
    BACKEND_DTYPES, BACKEND_TYPES, CALIBRATE_MODES, FRONTEND_TYPES, KNOWN_KEYS, Backend, BuildConfig, Dataset,
    Frontend, Quantize, Sampler, from_raw, merge_into_raw)

# ---------------------------------------------------------------- load / save
def read_yaml(path):
    from effv2nb.core.textio import read_text

    return parse_yaml(read_text(path, "build config"), Path(path))


def parse_yaml(text: str, path=None):
    """``yaml.safe_load`` whose every failure is an ``Effv2nbError`` naming the file (and line).

    Besides ``yaml.YAMLError``, PyYAML's constructors raise plain Python errors on some hostile
    input (``2001-13-14`` is read as a date and fails with ``ValueError``; ``[[[[...`` nested
    thousands deep exhausts the recursion limit): those are turned into the same one-line error.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise Effv2nbError(f"not valid YAML: {problem}", path, where) from None
    except RecursionError:
        raise Effv2nbError("not valid YAML: nested too deeply", path) from None
    except (ValueError, TypeError, OverflowError) as exc:   # e.g. a date like 2001-13-14
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise Effv2nbError(f"not valid YAML: a value cannot be read ({first})", path) from None


def config_from_dict(raw, path=None, check_paths=False):
    """Validate a mapping and build the typed config: ``(config, warnings)``; raises on errors."""
    errors, warnings = validate_build(raw, path, check_paths=check_paths)
    if errors:
        raise_problems(errors)
    return from_raw(raw, path), warnings


def load_build_config(path, check_paths: bool = False):
    """Load and validate a build YAML: ``(BuildConfig, warnings)``; raises ``Effv2nbError``."""
    path = Path(path)
    return config_from_dict(read_yaml(path), path, check_paths=check_paths)


def dump_yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def to_yaml(cfg: BuildConfig) -> str:
    return dump_yaml(merge_into_raw(cfg))


def rebase_paths(raw: dict, old_dir, new_dir) -> dict:
    """Relative ``frontend.checkpoint`` / ``dataset.path`` of a config moved from ``old_dir`` to
    ``new_dir``, made absolute so they still name the same files (unchanged if the folder is the same)."""
    old_dir, new_dir = Path(old_dir).resolve(), Path(new_dir).resolve()
    if old_dir == new_dir or not isinstance(raw, dict):
        return raw
    out = copy.deepcopy(raw)
    for sec, key in (("frontend", "checkpoint"), ("dataset", "path")):
        d = out.get(sec)
        if isinstance(d, dict) and isinstance(d.get(key), str) and d[key] and not Path(d[key]).expanduser().is_absolute():
            d[key] = os.path.normpath(str(old_dir / d[key]))
    return out


def save_build_config(config, path, backup: bool = True) -> Path:
    """Validate and write a config (a ``BuildConfig`` or a mapping) atomically; old file -> ``.bak``.

    Saved beside the file it was loaded from, relative paths are written as they are; saved into
    another folder, they are made absolute (``rebase_paths``) so they still name the same files.
    """
    path = Path(path)
    data = merge_into_raw(config) if isinstance(config, BuildConfig) else config
    if isinstance(config, BuildConfig) and config.source is not None:
        data = rebase_paths(data, config.source.parent, path.parent)
    errors, _ = validate_build(data, path)
    if errors:
        raise_problems(errors)
    write_text(path, dump_yaml(data), backup=backup)
    if isinstance(config, BuildConfig):
        config.raw, config.source = data, path
    return path


def new_build_config(model: str, dtype: str = "int8", size: int | None = None, checkpoint: str | None = None,
                     dataset_path: str | None = None, suffix: str = "JPEG", data_num: int = 50,
                     calibrate_mode: str = "percentile", name: str | None = None,
                     workspace: str = "./deploy_weights/", mean=None, std=None, softmax: bool = True) -> BuildConfig:
    """A build config in the vendor's layout for one of the suite's models.

    Preprocessing follows the model's vdsp file (squash-resize to the input size, mean/std on the
    0-1 scale), so calibration sees what the device will see. ``checkpoint`` defaults to the
    export command's output name ``<model>_<size>.onnx``.
    """
    from effv2nb.formats.vdsp import model_defaults

    info = model_defaults(model)
    s = int(size or info.input_size)
    raw = {
        "name": name or f"effv2nb_{model}_{dtype}",
        "frontend": {"shape": {"input": [1, 3, s, s]}, "type": "onnx",
                     "checkpoint": checkpoint or f"{model}_{s}.onnx", "dtype": "fp32"},
        "backend": {"type": "tvm_vacc", "dtype": dtype, "compile": {"cluster_mode": 0}},
    }
    if dtype == "int8":
        raw["backend"]["quantize"] = {"calibrate_mode": calibrate_mode, "quantize_per_channel": True}
    if softmax:
        raw["graph"] = {"extra_ops": {"type": "softmax"}}
    raw["dataset"] = {
        "type": "tvm", "path": dataset_path or "/path/to/calibration/images",
        "sampler": {"suffix": suffix, "get_data_num": int(data_num), "pick": "spread"},
        "process_ops": [
            {"type": "DecodeImage"},
            {"type": "Resize", "size": [s, s]},
            {"type": "CenterCrop", "crop_size": [s, s]},
            {"type": "Normalize", "mean": [float(x) for x in (mean or info.mean)],
             "std": [float(x) for x in (std or info.std)]},
            {"type": "ToTensor"},
        ],
    }
    raw["workspace"] = {"path": workspace}
    cfg, _ = config_from_dict(raw)
    return cfg
