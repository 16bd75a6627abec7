"""The build YAML's vocabulary and typed model: notebook 03, ``python -m effv2nb config`` and ``compile``.

Allowed values of the vendor's keys (``FRONTEND_TYPES``, ``CALIBRATE_MODES``...), the key tree the
suite knows (``KNOWN_KEYS``, the suite's extras included), the dataclasses of a loaded config and
the raw <-> typed merge that keeps unknown keys and key order. ``process_ops`` have their own table
(``effv2nb.formats.process_ops``). Reference: ``docs/vendor-files.md``, section "Build YAML".
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

from effv2nb.core import numbers

# ---------------------------------------------------------------- allowed values (the vendor's files)
FRONTEND_TYPES = ("onnx", "pytorch", "keras")
FRONTEND_DTYPES = ("fp32", "fp16")
BACKEND_TYPES = ("tvm_vacc", "tvm_runmodel")
BACKEND_DTYPES = ("int8", "fp16")
CALIBRATE_MODES = ("percentile", "max", "kl_divergence", "mse")
EXTRA_OP_TYPES = ("softmax",)
DATASET_TYPES = ("tvm",)
QUANT_TYPES = ("uint8", "int8")
MAX_BATCH = 1024           # frontend.shape N: no device runs larger batches
MAX_COUNT = numbers.INT32_MAX   # get_data_num, calib_chunk_size
# The key tree the model knows: dict = nested section, None = a leaf.
KNOWN_KEYS = {
    "name": None,
    "frontend": {"shape": None, "type": None, "checkpoint": None, "dtype": None},
    "backend": {
        "type": None, "dtype": None,
        "compile": {"cluster_mode": None, "data_transport_mode": None, "dense_special_config": None},
        "quantize": {
            "calibrate_mode": None, "quantize_per_channel": None, "skip_matmul_layers": None,
            "calibrate_chunk_by": None, "overflow_adaptive": None, "weight_scale": None,
            # suite extras
            "reduce_range": None, "nodes_to_exclude": None, "activation_type": None,
            "weight_type": None, "calib_chunk_size": None, "calib_percentile": None,
        },
    },
    "graph": {"extra_ops": {"type": None}},
    "dataset": {"type": None, "path": None, "sampler": {"suffix": None, "get_data_num": None, "pick": None},
                "process_ops": None},
    "workspace": {"path": None, "env_recheck": None},
}


# ---------------------------------------------------------------- the typed model
@dataclass
class Frontend:
    shape: dict = field(default_factory=dict)       # input name -> [N, C, H, W]
    type: str = "onnx"
    checkpoint: str = ""
    dtype: str = "fp32"


@dataclass
class Quantize:
    calibrate_mode: str | None = None
    quantize_per_channel: bool | None = None
    skip_matmul_layers: list | None = None
    calibrate_chunk_by: object = None
    overflow_adaptive: object = None
    weight_scale: object = None
    reduce_range: bool | str | None = None    # suite extra: true, false or "auto"
    nodes_to_exclude: list | None = None      # suite extra
    activation_type: str | None = None        # suite extra
    weight_type: str | None = None            # suite extra
    calib_chunk_size: int | None = None       # suite extra
    calib_percentile: float | None = None     # suite extra: ORT's CalibPercentile for calibrate_mode percentile


@dataclass
class Backend:
    type: str = "tvm_vacc"
    dtype: str = "fp16"
    compile: dict | None = None
    quantize: Quantize = field(default_factory=Quantize)


@dataclass
class Sampler:
    suffix: str | None = None
    get_data_num: int | None = None
    pick: str | None = None          # suite extra: "first" (the vendor's, default) or "spread"


@dataclass
class Dataset:
    type: str | None = None
    path: str | None = None
    sampler: Sampler = field(default_factory=Sampler)
    process_ops: list = field(default_factory=list)   # list of dicts: {"type": ..., params...}


@dataclass
class BuildConfig:
    """One build YAML. ``raw`` is the mapping as loaded (unknown keys and order live there)."""

    name: str = ""
    frontend: Frontend = field(default_factory=Frontend)
    backend: Backend = field(default_factory=Backend)
    extra_op: str | None = None                 # graph.extra_ops.type
    dataset: Dataset = field(default_factory=Dataset)
    workspace: str = "./deploy_weights/"
    raw: dict = field(default_factory=dict, repr=False)
    source: Path | None = None                  # the file it was loaded from

    # -- convenient views
    @property
    def input_name(self) -> str:
        return next(iter(self.frontend.shape), "input")

    @property
    def input_shape(self) -> list:
        return list(next(iter(self.frontend.shape.values()), [1, 3, 224, 224]))

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def resolve(self, p) -> Path:
        """A path from the config, relative ones against the config file's folder."""
        p = Path(str(p)).expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(self.base_dir / p))

    @property
    def checkpoint_path(self) -> Path:
        return self.resolve(self.frontend.checkpoint)

    @property
    def dataset_path(self) -> Path | None:
        return self.resolve(self.dataset.path) if self.dataset.path else None

    @property
    def workspace_path(self) -> Path:
        return Path(str(self.workspace)).expanduser().absolute()   # against the current directory

    def to_dict(self) -> dict:
        """The config as a plain mapping: ``raw`` updated with the typed values, order kept."""
        return merge_into_raw(self)


# ---------------------------------------------------------------- raw <-> typed
def from_raw(raw: dict, source) -> BuildConfig:
    fe, be = raw.get("frontend") or {}, raw.get("backend") or {}
    q = be.get("quantize") or {}
    ds = raw.get("dataset") or {}
    sm = ds.get("sampler") or {}
    return BuildConfig(
        name=raw.get("name", ""),
        frontend=Frontend(shape=copy.deepcopy(fe.get("shape") or {}), type=fe.get("type", "onnx"),
                          checkpoint=fe.get("checkpoint", ""), dtype=fe.get("dtype", "fp32")),
        backend=Backend(type=be.get("type", "tvm_vacc"), dtype=be.get("dtype", "fp16"),
                        compile=copy.deepcopy(be.get("compile")),
                        quantize=Quantize(**{k: copy.deepcopy(q.get(k)) for k in Quantize.__dataclass_fields__})),
        extra_op=((raw.get("graph") or {}).get("extra_ops") or {}).get("type"),
        dataset=Dataset(type=ds.get("type"), path=ds.get("path"),
                        sampler=Sampler(suffix=sm.get("suffix"), get_data_num=sm.get("get_data_num"),
                                        pick=sm.get("pick")),
                        process_ops=copy.deepcopy(ds.get("process_ops") or [])),
        workspace=(raw.get("workspace") or {}).get("path", "./deploy_weights/"),
        raw=raw, source=Path(source) if source is not None else None)


def put_value(mapping: dict, key, value):
    """Set (keeping position) or, for None, remove ``key``."""
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def sub_mapping(mapping: dict, key) -> dict:
    """``mapping[key]``, made an empty mapping first when it is missing or not a mapping."""
    if not isinstance(mapping.get(key), dict):
        mapping[key] = {}
    return mapping[key]


def merge_into_raw(cfg: BuildConfig) -> dict:
    """``cfg.raw`` (deep-copied) with every typed value written back in place."""
    out = copy.deepcopy(cfg.raw) if isinstance(cfg.raw, dict) else {}
    put_value(out, "name", cfg.name)
    fe = sub_mapping(out, "frontend")
    put_value(fe, "shape", copy.deepcopy(cfg.frontend.shape))
    put_value(fe, "type", cfg.frontend.type)
    put_value(fe, "checkpoint", cfg.frontend.checkpoint)
    put_value(fe, "dtype", cfg.frontend.dtype)
    be = sub_mapping(out, "backend")
    put_value(be, "type", cfg.backend.type)
    put_value(be, "dtype", cfg.backend.dtype)
    put_value(be, "compile", copy.deepcopy(cfg.backend.compile))
    qvals = {k: getattr(cfg.backend.quantize, k) for k in Quantize.__dataclass_fields__}
    if any(v is not None for v in qvals.values()) or "quantize" in be:
        q = sub_mapping(be, "quantize")
        for k, v in qvals.items():
            put_value(q, k, copy.deepcopy(v))
    if cfg.extra_op is not None or "graph" in out:
        eo = sub_mapping(sub_mapping(out, "graph"), "extra_ops")
        put_value(eo, "type", cfg.extra_op)
    d = cfg.dataset
    if d.path is not None or d.process_ops or "dataset" in out:
        ds = sub_mapping(out, "dataset")
        put_value(ds, "type", d.type)
        put_value(ds, "path", d.path)
        if (d.sampler.suffix is not None or d.sampler.get_data_num is not None or d.sampler.pick is not None
                or "sampler" in ds):
            sm = sub_mapping(ds, "sampler")
            put_value(sm, "suffix", d.sampler.suffix)
            put_value(sm, "get_data_num", d.sampler.get_data_num)
            put_value(sm, "pick", d.sampler.pick)
        put_value(ds, "process_ops", copy.deepcopy(d.process_ops) if d.process_ops else ds.get("process_ops"))
    put_value(sub_mapping(out, "workspace"), "path", cfg.workspace)
    return out
