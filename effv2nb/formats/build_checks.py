"""Validation of a build YAML: notebook 03 (the config editor's live check), ``config check`` and ``compile``.

``validate_build(raw, path)`` returns ``(errors, warnings)``: every problem names the file, the key
path (``backend.quantize.calibrate_mode``) and what is allowed. Unknown keys are warnings with a
did-you-mean. ``process_ops`` are checked by their table (``effv2nb.formats.process_ops``).
Reference: ``docs/vendor-files.md``, section "Build YAML".
"""
from __future__ import annotations

import difflib
from pathlib import Path

from effv2nb.core import numbers
from effv2nb.core.errors import Effv2nbError, one_of
from effv2nb.core.numbers import MAX_SIDE
from effv2nb.data.folds import PICKS
from effv2nb.formats.build_schema import (BACKEND_DTYPES, BACKEND_TYPES, CALIBRATE_MODES, DATASET_TYPES,
                                          EXTRA_OP_TYPES, FRONTEND_DTYPES, FRONTEND_TYPES, KNOWN_KEYS, MAX_BATCH,
                                          MAX_COUNT, QUANT_TYPES)
from effv2nb.formats.process_ops import check_ops

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
            rep.error(where, f"missing; {one_of(allowed)}")
        return None
    v = sec[key]
    if v not in allowed:
        rep.error(where, f"'{v}' is not allowed; {one_of(allowed)}")
        return None
    return v


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
            if "calib_percentile" in q:
                p = q["calib_percentile"]
                if isinstance(p, bool) or not isinstance(p, (int, float)) or not 50 <= p <= 100:
                    rep.error("backend.quantize.calib_percentile",
                              f"must be a number from 50 to 100 (a percentile), got {numbers.shown(p)}")
                elif q.get("calibrate_mode") != "percentile":
                    rep.warn("backend.quantize.calib_percentile",
                             f"only used with calibrate_mode: percentile (here {q.get('calibrate_mode')!r}); ignored")
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
            check_ops(rep, ds.get("process_ops"), "dataset.process_ops")

    ws = _section(rep, raw, "workspace", "workspace")
    if ws:
        if not isinstance(ws.get("path"), str) or not ws.get("path"):
            rep.error("workspace.path", "missing; the output folder, e.g. ./deploy_weights/")
        if "env_recheck" in ws and not isinstance(ws["env_recheck"], bool):
            rep.error("workspace.env_recheck", f"must be true or false, got {ws['env_recheck']!r}")
    return rep.errors, rep.warnings
