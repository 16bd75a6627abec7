"""The vendor's build config (the ``vamc compile`` YAML): a typed model, validation, round-trip save.

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
``weight_type`` (``int8`` / ``uint8``), ``calib_chunk_size`` (images per calibration chunk); and under
``dataset.sampler``, ``pick``: ``first`` (the vendor's sampler, the default: the first ``get_data_num``
files in sorted order) or ``spread`` (evenly spaced over the sorted list, so every class is seen; the
suite's shipped configs use it).
"""
from __future__ import annotations

import copy
import os
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from effv2nb.core import numbers
from effv2nb.core.atomic import write_text
from effv2nb.core.errors import Effv2nbError
from effv2nb.data.folds import PICKS
from effv2nb.device.preprocess import MAX_SIDE

# ---------------------------------------------------------------- allowed values (the vendor's files)
FRONTEND_TYPES = ("onnx", "pytorch", "keras")
FRONTEND_DTYPES = ("fp32", "fp16")
BACKEND_TYPES = ("tvm_vacc", "tvm_runmodel")
BACKEND_DTYPES = ("int8", "fp16")
CALIBRATE_MODES = ("percentile", "max", "kl_divergence", "mse")
EXTRA_OP_TYPES = ("softmax",)
DATASET_TYPES = ("tvm",)
QUANT_TYPES = ("uint8", "int8")
CVT_CODES = ("COLOR_RGB2BGR", "COLOR_BGR2RGB")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
MAX_BATCH = 1024           # frontend.shape N: no device runs larger batches
MAX_COUNT = numbers.INT32_MAX   # get_data_num, calib_chunk_size
# op type -> known parameter keys
PROCESS_OPS = {
    "DecodeImage": (),
    "Resize": ("size", "interpolation"),
    "CenterCrop": ("crop_size",),
    "CvtColor": ("code",),
    "Normalize": ("mean", "std", "div255"),
    "ToTensor": (),
}

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
            "weight_type": None, "calib_chunk_size": None,
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


# ---------------------------------------------------------------- validation
class _Report:
    def __init__(self, path):
        self.path = None if path is None else str(path)
        self.errors: list[Effv2nbError] = []
        self.warnings: list[str] = []

    def error(self, where, message):
        self.errors.append(Effv2nbError(message, self.path, where))

    def warn(self, where, message):
        self.warnings.append(Effv2nbError(message, self.path, where).one_line())


def _allowed(values):
    return "one of " + ", ".join(str(v) for v in values)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_unknown(rep, mapping, known, prefix):
    for key in mapping:
        if not isinstance(key, str):
            rep.warn(f"{prefix}{key}", "non-string key kept as is")
            continue
        if key not in known:
            near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            rep.warn(prefix + key, f"unknown key, kept but not used{hint}")
        elif isinstance(known[key], dict) and isinstance(mapping[key], dict):
            _check_unknown(rep, mapping[key], known[key], prefix + key + ".")


def _section(rep, raw, key, where, required=True):
    v = raw.get(key) if isinstance(raw, dict) else None
    if v is None:
        if required:
            rep.error(where, "missing section (a mapping is required)")
        return {}
    if not isinstance(v, dict):
        rep.error(where, f"must be a mapping of keys, not {type(v).__name__}")
        return {}
    return v


def _choice(rep, sec, key, where, allowed, required=True):
    if key not in sec or sec[key] is None:
        if required:
            rep.error(where, f"missing; {_allowed(allowed)}")
        return None
    v = sec[key]
    if v not in allowed:
        rep.error(where, f"'{v}' is not allowed; {_allowed(allowed)}")
        return None
    return v


def _pair(rep, v, where, what):
    """[h, w] of positive ints (an int n means [n, n]), at most ``MAX_SIDE`` pixels."""
    vals = [v] if _is_int(v) else (list(v) if isinstance(v, (list, tuple)) and len(v) == 2 else None)
    if vals is None or not all(_is_int(x) and x > 0 for x in vals):
        rep.error(where, f"{what} must be [height, width] of positive integers (or one integer), "
                         f"got {numbers.shown(v)}")
        return None
    if any(x > MAX_SIDE for x in vals):
        rep.error(where, f"{what} {numbers.shown(max(vals))} is over the {MAX_SIDE} pixel limit")
        return None
    return vals * 2 if len(vals) == 1 else vals


def _validate_process_ops(rep, ops, where):
    if not isinstance(ops, list):
        rep.error(where, "must be a list of ops like '- type: Resize'")
        return
    if not ops:
        rep.error(where, "is empty; at least DecodeImage ... ToTensor is needed")
        return
    for i, op in enumerate(ops):
        w = f"{where}[{i}]"
        if not isinstance(op, dict) or "type" not in op:
            rep.error(w, f"each op must be a mapping with a 'type'; {_allowed(PROCESS_OPS)}")
            continue
        t = op["type"]
        if not isinstance(t, str) or t not in PROCESS_OPS:
            near = difflib.get_close_matches(str(t), list(PROCESS_OPS), n=1, cutoff=0.6)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            rep.error(f"{w}.type", f"unknown op '{t}'{hint}; {_allowed(PROCESS_OPS)}")
            continue
        for k in op:
            if k != "type" and k not in PROCESS_OPS[t]:
                near = difflib.get_close_matches(str(k), list(PROCESS_OPS[t]), n=1, cutoff=0.6)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                rep.warn(f"{w}.{k}", f"unknown {t} parameter, kept but not used{hint}")
        size_key = {"Resize": "size", "CenterCrop": "crop_size"}.get(t)
        if size_key:
            if size_key not in op:
                rep.error(f"{w}.{size_key}", "missing; [height, width] of positive integers")
            else:
                _pair(rep, op[size_key], f"{w}.{size_key}", size_key)
        if t == "Resize":
            if "interpolation" in op and op["interpolation"] not in INTERPOLATIONS:
                rep.error(f"{w}.interpolation", f"'{op['interpolation']}' is not allowed; {_allowed(INTERPOLATIONS)}")
        elif t == "CvtColor":
            if op.get("code") not in CVT_CODES:
                rep.error(f"{w}.code", f"{op.get('code')!r} is not allowed; {_allowed(CVT_CODES)}")
        elif t == "Normalize":
            for k in ("mean", "std"):
                v = op.get(k)
                if not (isinstance(v, list) and len(v) == 3 and all(numbers.is_finite_number(x) for x in v)):
                    rep.error(f"{w}.{k}", f"must be a list of 3 numbers (one per channel, finite), got {v!r}")
                elif any(abs(x) > numbers.FLOAT32_MAX for x in v):
                    rep.error(f"{w}.{k}", f"{v!r} is too large for float32, the type calibration computes in")
                elif k == "std" and any(x <= 0 for x in v):
                    rep.error(f"{w}.std", f"must be positive, got {v!r}")
            if "div255" in op and not isinstance(op["div255"], bool):
                rep.error(f"{w}.div255", f"must be true or false, got {op['div255']!r}")
    types = [op.get("type") for op in ops if isinstance(op, dict)]
    if types and types[0] != "DecodeImage":
        rep.warn(f"{where}[0]", "the first op is usually DecodeImage (images are decoded first anyway)")
    if "Normalize" not in types:
        rep.warn(where, "no Normalize op: calibration images reach the model as 0..255 values")


def validate_build(raw, path=None, check_paths: bool = False):
    """Validate a loaded build YAML mapping. Returns ``(errors, warnings)``.

    ``errors``: ``Effv2nbError`` each naming file and key path; ``warnings``: one-line strings.
    ``check_paths``: missing checkpoint / dataset folder are errors (compile) instead of warnings.
    """
    rep = _Report(path)
    if raw is None:
        rep.error(None, "empty file; a build config is a YAML mapping of sections (name, frontend, backend, ...)")
        return rep.errors, rep.warnings
    if not isinstance(raw, dict):
        what = {list: "a list", str: "a single string"}.get(type(raw), type(raw).__name__)
        rep.error(None, f"a build config is a YAML mapping of sections (name, frontend, backend, ...), not {what}")
        return rep.errors, rep.warnings
    for where, message in numbers.non_finite(raw):
        rep.error(where, message)
    _check_unknown(rep, raw, KNOWN_KEYS, "")

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        rep.error("name", "missing; a non-empty string (the output folder under workspace.path)")
    elif any(c in name for c in "/\\") or name in (".", ".."):
        rep.error("name", f"'{name}' must be a plain folder name (no '/', '\\', '.' or '..')")

    fe = _section(rep, raw, "frontend", "frontend")
    shape = fe.get("shape")
    if fe:
        if not isinstance(shape, dict) or not shape:
            rep.error("frontend.shape", "missing; a mapping input name -> [N, C, H, W], e.g. input: [1, 3, 288, 288]")
        else:
            if len(shape) > 1:
                rep.warn("frontend.shape", "more than one input: only the first is used")
            for k, v in shape.items():
                w = f"frontend.shape.{k}"
                if not (isinstance(v, list) and len(v) == 4 and all(_is_int(x) and x > 0 for x in v)):
                    rep.error(w, f"must be [N, C, H, W] of 4 positive integers, got {numbers.shown(v)}")
                elif v[1] != 3:
                    rep.error(w, f"channels (second value) must be 3 for an RGB model, got {numbers.shown(v[1])}")
                elif v[0] > MAX_BATCH:
                    rep.error(w, f"batch (first value) {numbers.shown(v[0])} is over the {MAX_BATCH} limit")
                elif max(v[2], v[3]) > MAX_SIDE:
                    rep.error(w, f"input {numbers.shown(max(v[2], v[3]))} pixels is over the {MAX_SIDE} pixel limit")
        _choice(rep, fe, "type", "frontend.type", FRONTEND_TYPES)
        _choice(rep, fe, "dtype", "frontend.dtype", FRONTEND_DTYPES, required=False)
        ck = fe.get("checkpoint")
        if not isinstance(ck, str) or not ck:
            rep.error("frontend.checkpoint", "missing; the path of the model file")
        else:
            p = Path(ck).expanduser()
            p = p if p.is_absolute() or path is None else Path(path).parent / p
            if not p.is_file():
                (rep.error if check_paths else rep.warn)("frontend.checkpoint", f"file not found: {p}")

    be = _section(rep, raw, "backend", "backend")
    dtype = None
    if be:
        _choice(rep, be, "type", "backend.type", BACKEND_TYPES)
        dtype = _choice(rep, be, "dtype", "backend.dtype", BACKEND_DTYPES)
        if "compile" in be and be["compile"] is not None and not isinstance(be["compile"], dict):
            rep.error("backend.compile", "must be a mapping of compiler knobs")
        q = _section(rep, be, "quantize", "backend.quantize", required=False)
        if q:
            _choice(rep, q, "calibrate_mode", "backend.quantize.calibrate_mode", CALIBRATE_MODES, required=False)
            if "quantize_per_channel" in q and not isinstance(q["quantize_per_channel"], bool):
                rep.error("backend.quantize.quantize_per_channel", f"must be true or false, got {q['quantize_per_channel']!r}")
            if "reduce_range" in q and not (isinstance(q["reduce_range"], bool) or q["reduce_range"] == "auto"):
                rep.error("backend.quantize.reduce_range", f"must be true, false or auto, got {q['reduce_range']!r}")
            for k in ("skip_matmul_layers", "nodes_to_exclude"):
                if k in q and q[k] is not None and not (isinstance(q[k], list) and all(isinstance(x, (str, int)) for x in q[k])):
                    rep.error(f"backend.quantize.{k}", f"must be a list of names, got {q[k]!r}")
            for k in ("activation_type", "weight_type"):
                _choice(rep, q, k, f"backend.quantize.{k}", QUANT_TYPES, required=False)
            if "calib_chunk_size" in q and not (_is_int(q["calib_chunk_size"]) and 0 < q["calib_chunk_size"] <= MAX_COUNT):
                rep.error("backend.quantize.calib_chunk_size",
                          f"must be a positive integer up to {MAX_COUNT}, got {numbers.shown(q['calib_chunk_size'])}")
        if dtype == "int8":
            if not q or q.get("calibrate_mode") is None:
                rep.warn("backend.quantize.calibrate_mode", "not set for int8; 'max' is used")

    gr = _section(rep, raw, "graph", "graph", required=False)
    if gr:
        eo = _section(rep, gr, "extra_ops", "graph.extra_ops", required=False)
        if eo:
            _choice(rep, eo, "type", "graph.extra_ops.type", EXTRA_OP_TYPES)

    ds = _section(rep, raw, "dataset", "dataset", required=(dtype == "int8"))
    if ds:
        _choice(rep, ds, "type", "dataset.type", DATASET_TYPES, required=False)
        dp = ds.get("path")
        if not isinstance(dp, str) or not dp:
            (rep.error if dtype == "int8" else rep.warn)("dataset.path", "missing; the folder of calibration images")
        else:
            p = Path(dp).expanduser()
            p = p if p.is_absolute() or path is None else Path(path).parent / p
            if not p.is_dir():
                (rep.error if (check_paths and dtype == "int8") else rep.warn)("dataset.path", f"folder not found: {p}")
        sm = _section(rep, ds, "sampler", "dataset.sampler", required=False)
        if sm:
            if "suffix" in sm and not (isinstance(sm["suffix"], str) and sm["suffix"].strip(".")):
                rep.error("dataset.sampler.suffix", f"must be a file suffix like JPEG or png, got {sm['suffix']!r}")
            if "get_data_num" in sm and not (_is_int(sm["get_data_num"]) and 0 < sm["get_data_num"] <= MAX_COUNT):
                rep.error("dataset.sampler.get_data_num",
                          f"must be a positive integer up to {MAX_COUNT}, got {numbers.shown(sm['get_data_num'])}")
            _choice(rep, sm, "pick", "dataset.sampler.pick", PICKS, required=False)
        if "process_ops" in ds or dtype == "int8":
            _validate_process_ops(rep, ds.get("process_ops"), "dataset.process_ops")

    ws = _section(rep, raw, "workspace", "workspace")
    if ws:
        if not isinstance(ws.get("path"), str) or not ws.get("path"):
            rep.error("workspace.path", "missing; the output folder, e.g. ./deploy_weights/")
        if "env_recheck" in ws and not isinstance(ws["env_recheck"], bool):
            rep.error("workspace.env_recheck", f"must be true or false, got {ws['env_recheck']!r}")
    return rep.errors, rep.warnings


# ---------------------------------------------------------------- raw <-> typed
def _from_raw(raw: dict, source) -> BuildConfig:
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


def _put(mapping: dict, key, value):
    """Set (keeping position) or, for None, remove ``key``."""
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _sub(mapping: dict, key) -> dict:
    if not isinstance(mapping.get(key), dict):
        mapping[key] = {}
    return mapping[key]


def merge_into_raw(cfg: BuildConfig) -> dict:
    """``cfg.raw`` (deep-copied) with every typed value written back in place."""
    out = copy.deepcopy(cfg.raw) if isinstance(cfg.raw, dict) else {}
    _put(out, "name", cfg.name)
    fe = _sub(out, "frontend")
    _put(fe, "shape", copy.deepcopy(cfg.frontend.shape))
    _put(fe, "type", cfg.frontend.type)
    _put(fe, "checkpoint", cfg.frontend.checkpoint)
    _put(fe, "dtype", cfg.frontend.dtype)
    be = _sub(out, "backend")
    _put(be, "type", cfg.backend.type)
    _put(be, "dtype", cfg.backend.dtype)
    _put(be, "compile", copy.deepcopy(cfg.backend.compile))
    qvals = {k: getattr(cfg.backend.quantize, k) for k in Quantize.__dataclass_fields__}
    if any(v is not None for v in qvals.values()) or "quantize" in be:
        q = _sub(be, "quantize")
        for k, v in qvals.items():
            _put(q, k, copy.deepcopy(v))
    if cfg.extra_op is not None or "graph" in out:
        eo = _sub(_sub(out, "graph"), "extra_ops")
        _put(eo, "type", cfg.extra_op)
    d = cfg.dataset
    if d.path is not None or d.process_ops or "dataset" in out:
        ds = _sub(out, "dataset")
        _put(ds, "type", d.type)
        _put(ds, "path", d.path)
        if (d.sampler.suffix is not None or d.sampler.get_data_num is not None or d.sampler.pick is not None
                or "sampler" in ds):
            sm = _sub(ds, "sampler")
            _put(sm, "suffix", d.sampler.suffix)
            _put(sm, "get_data_num", d.sampler.get_data_num)
            _put(sm, "pick", d.sampler.pick)
        _put(ds, "process_ops", copy.deepcopy(d.process_ops) if d.process_ops else ds.get("process_ops"))
    _put(_sub(out, "workspace"), "path", cfg.workspace)
    return out


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


def raise_problems(errors):
    """Raise the first error, mentioning how many more there are (all kept in ``.problems``)."""
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    err = Effv2nbError(first.message + more, first.path, first.where)
    err.problems = list(errors)
    raise err


def config_from_dict(raw, path=None, check_paths=False):
    """Validate a mapping and build the typed config: ``(config, warnings)``; raises on errors."""
    errors, warnings = validate_build(raw, path, check_paths=check_paths)
    if errors:
        raise_problems(errors)
    return _from_raw(raw, path), warnings


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
    import os

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
