"""``compile``: the seed's ``vamc compile BUILD.yaml``, on the open stack when ``vamc`` is absent.

The open stack is the suite's stand-in device:

- ``fp16``: the ONNX graph converted to float16 inside, float32 at the inputs and outputs
  (``onnxconverter_common``), checked to run in ONNX Runtime;
- ``int8``: ONNX Runtime static quantization (QDQ). ``calibrate_mode`` maps ``max`` -> MinMax,
  ``percentile`` -> Percentile, ``kl_divergence`` -> Entropy; ``mse`` is refused (the open
  compiler has no MSE calibrator). Calibration runs in chunks (ORT's ``CalibStridedMinMax``
  drives every calibrator, histogram ones included, chunk by chunk and merges), so memory
  does not grow with the number of calibration images.

Output: ``<workspace.path>/<name>/mod.onnx`` and ``mod.json`` (manifest). Both are written by
rename when complete: a failed or interrupted compile leaves no (new, partial) ``mod.onnx``.
A second compile with the same inputs is skipped unless ``force``.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import io
import logging
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from effv2nb import __version__
from effv2nb.core.atomic import atomic_path, atomic_paths, explain_truncation, output_folder, put_bytes
from effv2nb.core.errors import Effv2nbError
from effv2nb.quant.int8_guard import AUTO, DEFAULT_REDUCE_RANGE

CALIBRATE_METHODS = {"max": "MinMax", "percentile": "Percentile", "kl_divergence": "Entropy"}
# u8 activations, s8 weights (fused on x86), reduce_range "auto": 8-bit weights unless this CPU's fused
# kernels saturate with them (effv2nb.quant.int8_guard measures it at compile time and records it in mod.json).
# All three are overridable under backend.quantize (reduce_range / activation_type / weight_type).
DEFAULT_ACTIVATION_TYPE = "uint8"
DEFAULT_WEIGHT_TYPE = "int8"
DEFAULT_CHUNK = 8
MOD_ONNX, MOD_JSON = "mod.onnx", "mod.json"


def sha256_file(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _quant_type(name, default):
    from onnxruntime.quantization import QuantType

    name = name or default
    if isinstance(name, QuantType):
        return name
    table = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8, "quint8": QuantType.QUInt8, "qint8": QuantType.QInt8}
    if str(name).lower() not in table:
        raise Effv2nbError(f"quantization type '{name}' is not supported; one of uint8, int8")
    return table[str(name).lower()]


def calibrate_method(mode: str):
    from onnxruntime.quantization import CalibrationMethod

    if mode == "mse":
        raise Effv2nbError("calibrate_mode 'mse' is not supported by the open compiler "
                           "(use max, percentile or kl_divergence; vamc supports mse)",
                           where="backend.quantize.calibrate_mode")
    if mode not in CALIBRATE_METHODS:
        raise Effv2nbError(f"calibrate_mode '{mode}' is not allowed; one of {', '.join(CALIBRATE_METHODS)}",
                           where="backend.quantize.calibrate_mode")
    return getattr(CalibrationMethod, CALIBRATE_METHODS[mode])


def _nchw(x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x[None] if x.ndim == 3 else x


class _ArrayReader:
    """A CalibrationDataReader over in-memory batches (arrays or {input: array} dicts)."""

    def __init__(self, items, input_name="input"):
        self.items = [x if isinstance(x, dict) else {input_name: _nchw(x)} for x in items]
        self.set_range(0, len(self.items))

    def __len__(self):
        return len(self.items)

    def set_range(self, start_index, end_index):
        self._next, self._end = start_index, min(end_index, len(self.items))

    def get_next(self):
        if self._next >= self._end:
            return None
        self._next += 1
        return self.items[self._next - 1]


def _chunk_for(total: int, wanted: int) -> int:
    """The largest divisor of ``total`` that is <= ``wanted`` (ORT needs total % stride == 0)."""
    wanted = max(1, min(int(wanted), total))
    return next(d for d in range(wanted, 0, -1) if total % d == 0)


def _input_name(onnx_path) -> str:
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


def quantize_int8(onnx_in, onnx_out, calibration_reader, calibrate_mode="max", per_channel=True,
                  reduce_range: bool = False, nodes_to_exclude=(), op_types_to_quantize=None,
                  extra_options=None, activation_type=None, weight_type=None,
                  chunk_size: int = DEFAULT_CHUNK) -> Path:
    """Static int8 quantization (QDQ) of ``onnx_in`` into ``onnx_out`` (written atomically).

    The single place that calls ORT ``quantize_static``. ``calibration_reader``: an ORT
    ``CalibrationDataReader`` (``effv2nb.compile.calibration.CalibrationReader``) or a list of float32
    NCHW arrays. Readers with ``__len__`` and ``set_range`` are calibrated ``chunk_size`` items at
    a time (histograms / ranges merged between chunks), so peak memory is that of one chunk.
    ``activation_type`` / ``weight_type``: ``"uint8"`` / ``"int8"`` (defaults u8 / s8).
    ``reduce_range``: True for 7-bit weights (``"auto"`` is decided by ``compile_config``, not here).
    """
    from google.protobuf.message import DecodeError
    from onnxruntime.quantization import QuantFormat, quantize_static

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    if not isinstance(reduce_range, (bool, np.bool_)):
        raise Effv2nbError(f"reduce_range must be true or false here, not {reduce_range!r}")
    method = calibrate_method(calibrate_mode)
    reader = calibration_reader
    if not hasattr(reader, "get_next"):
        reader = _ArrayReader(list(reader), _input_name(onnx_in))
    options = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if hasattr(reader, "__len__") and hasattr(reader, "set_range"):
        total = len(reader)
        if total == 0:
            raise Effv2nbError("no calibration data")
        options["CalibStridedMinMax"] = _chunk_for(total, chunk_size)
    options.update(extra_options or {})
    with atomic_path(onnx_out) as tmp, tempfile.TemporaryDirectory(prefix="effv2nb-quant-") as work:
        # ORT writes its augmented model next to a temp copy; keep all of it out of the output folder
        tmp_out = Path(work) / "quant.onnx"
        # ... and <input>-inferred.onnx beside its input (left there when it fails): give it a link in
        # the temporary folder, so nothing is ever written beside the user's model
        src = Path(work) / "input.onnx"
        try:
            src.symlink_to(onnx_in.resolve())
        except OSError:
            shutil.copyfile(onnx_in, src)
        try:
            with contextlib.redirect_stdout(io.StringIO()), _quiet_root_logger():  # ORT prints per chunk
                quantize_static(
                    str(src), str(tmp_out), reader,
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=list(op_types_to_quantize) if op_types_to_quantize else None,
                    per_channel=bool(per_channel),
                    reduce_range=bool(reduce_range),
                    activation_type=_quant_type(activation_type, DEFAULT_ACTIVATION_TYPE),
                    weight_type=_quant_type(weight_type, DEFAULT_WEIGHT_TYPE),
                    nodes_to_exclude=[str(n) for n in nodes_to_exclude or ()],
                    calibrate_method=method,
                    extra_options=options,
                )
        except (Effv2nbError, OSError):
            raise
        except (ValueError, RuntimeError, KeyError, DecodeError) as exc:   # DecodeError: a model written incomplete
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise Effv2nbError(f"int8 quantization failed: {first}{explain_truncation(work)}", onnx_in) from None
        shutil.move(str(tmp_out), tmp)
    return onnx_out


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def convert_fp16(onnx_in, onnx_out) -> Path:
    """Float16 inside, float32 at the inputs and outputs; checked to load and run in ORT."""
    import onnx
    from onnxconverter_common import float16

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    model = onnx.load(str(onnx_in))
    with warnings.catch_warnings():   # "float32 number 1e-11 will be truncated to 1e-07", once per constant
        warnings.simplefilter("ignore", UserWarning)
        m16 = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    with atomic_path(onnx_out) as tmp:
        onnx.save(m16, str(tmp))
        _smoke_run(tmp)
    return onnx_out


def _fixed_input(sess, batch=1, seed=0):
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else batch for d in inp.shape]
    return {inp.name: np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)}


def _smoke_run(path):
    from effv2nb.export.onnx_export import ort_session

    sess = ort_session(path)
    out = sess.run(None, _fixed_input(sess))[0]
    if not np.all(np.isfinite(out)):
        raise Effv2nbError("compiled model gives non-finite outputs", path)


def add_softmax(onnx_path) -> None:
    """``graph.extra_ops: softmax``: append Softmax(axis=-1) to the (first) output, same output name."""
    import onnx
    from onnx import helper

    m = onnx.load(str(onnx_path))
    out = m.graph.output[0]
    logits = out.name + "_logits"
    for node in m.graph.node:
        for i, name in enumerate(node.output):
            if name == out.name:
                node.output[i] = logits
    for node in m.graph.node:
        for i, name in enumerate(node.input):
            if name == out.name:
                node.input[i] = logits
    m.graph.node.append(helper.make_node("Softmax", [logits], [out.name], axis=-1, name="extra_ops_softmax"))
    with atomic_path(onnx_path) as tmp:
        onnx.save(m, str(tmp))


def compare(reference_onnx, candidate_onnx, inputs) -> dict:
    """Relative L2 error and top-1 agreement of ``candidate`` against ``reference`` on ``inputs``."""
    from effv2nb.export.onnx_export import ort_session

    a, b = ort_session(reference_onnx), ort_session(candidate_onnx)
    name_a, name_b = a.get_inputs()[0].name, b.get_inputs()[0].name
    ref = np.concatenate([a.run(None, {name_a: x[None] if x.ndim == 3 else x})[0] for x in inputs])
    out = np.concatenate([b.run(None, {name_b: x[None] if x.ndim == 3 else x})[0] for x in inputs])
    return {"n": int(ref.shape[0]),
            "rel_l2": float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30)),
            "top1_agreement": float(np.mean(out.argmax(-1) == ref.argmax(-1)))}


# ---------------------------------------------------------------- compile a build config
def _check_onnx_input(cfg, onnx_path):
    import onnx

    try:
        m = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:   # protobuf's DecodeError and friends: the bytes are not a model
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise Effv2nbError(f"{onnx_path} is not an ONNX model ({first})", cfg.source,
                           "frontend.checkpoint") from None
    inits = {i.name for i in m.graph.initializer}
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in m.graph.input if i.name not in inits}
    if not m.graph.node or not inputs:
        # protobuf reads many byte strings (an empty file, some text) as an empty ModelProto
        raise Effv2nbError(f"{onnx_path} is not an ONNX model (no graph)", cfg.source, "frontend.checkpoint")
    name = cfg.input_name
    if name not in inputs:
        raise Effv2nbError(f"input '{name}' is not in the model (its inputs: {', '.join(inputs)})",
                           cfg.source, f"frontend.shape.{name}")
    want, have = cfg.input_shape, inputs[name]
    if len(have) != 4:
        raise Effv2nbError(f"the model's input '{name}' has shape {have}, not [N, C, H, W]", cfg.source,
                           f"frontend.shape.{name}")
    for axis in (1, 2, 3):
        if isinstance(have[axis], int) and have[axis] and have[axis] != want[axis]:
            raise Effv2nbError(f"shape {want} does not fit the model's input {have}", cfg.source,
                               f"frontend.shape.{name}")


def _run_vamc(config_path, log) -> int:
    cmd = [shutil.which("vamc"), "compile", str(config_path)]
    log("running: " + " ".join(cmd))
    return subprocess.call(cmd)


def quant_settings(cfg) -> dict:
    """The int8 settings compile uses: the config's, with the suite's defaults filled in."""
    q = cfg.backend.quantize
    return {
        "calibrate_mode": q.calibrate_mode or "max",
        "calibrate_method": CALIBRATE_METHODS.get(q.calibrate_mode or "max"),
        "per_channel": bool(q.quantize_per_channel) if q.quantize_per_channel is not None else False,
        "reduce_range": DEFAULT_REDUCE_RANGE if q.reduce_range in (None, AUTO) else bool(q.reduce_range),
        "activation_type": q.activation_type or DEFAULT_ACTIVATION_TYPE,
        "weight_type": q.weight_type or DEFAULT_WEIGHT_TYPE,
        "nodes_to_exclude": [str(n) for n in (q.nodes_to_exclude or [])],
        "chunk_size": int(q.calib_chunk_size or DEFAULT_CHUNK),
    }


def output_dir(cfg) -> Path:
    return cfg.workspace_path / cfg.name


def compile_config(config_path, force: bool = False, log=print, progress: bool = True) -> Path:
    """Compile a build YAML; returns ``<workspace.path>/<name>/mod.onnx``.

    With ``vamc`` on PATH it runs ``vamc compile CONFIG`` and returns the model prefix
    ``<workspace>/<name>/mod`` it produces. ``force``: recompile even when nothing changed.
    """
    from effv2nb.formats.build_config import load_build_config

    config_path = Path(config_path)
    if shutil.which("vamc"):
        cfg, _ = load_build_config(config_path)
        rc = _run_vamc(config_path, log)
        if rc != 0:
            raise Effv2nbError(f"vamc compile exited with status {rc}", config_path)
        return output_dir(cfg) / "mod"

    cfg, warnings = load_build_config(config_path, check_paths=True)
    for w in warnings:
        log("warning: " + w)
    if cfg.frontend.type != "onnx":
        raise Effv2nbError(f"the open compiler compiles ONNX only, not '{cfg.frontend.type}' "
                           "(export first: python -m effv2nb export)", config_path, "frontend.type")
    ckpt = cfg.checkpoint_path
    _check_onnx_input(cfg, ckpt)
    dtype = cfg.backend.dtype
    out_dir = output_folder(output_dir(cfg), cfg.workspace_path, config_path, "name")
    mod_onnx, mod_json = out_dir / MOD_ONNX, out_dir / MOD_JSON

    files, qs = [], None
    if dtype == "int8":
        from effv2nb.compile.calibration import calibration_files, check_shape, data_num

        qs = quant_settings(cfg)
        calibrate_method(qs["calibrate_mode"])       # refuse mse before any work
        files = calibration_files(cfg)
        wanted = data_num(cfg)
        if len(files) < wanted:
            log(f"warning: {config_path}: dataset.sampler.get_data_num: {wanted} calibration images asked for, "
                f"{cfg.dataset_path} holds {len(files)}; calibrating on those {len(files)}")
        check_shape(cfg, files)
    compiled = cfg.to_dict()
    fingerprint_src = {
        "config": compiled, "checkpoint_sha256": sha256_file(ckpt), "dtype": dtype, "quantize": qs,
        "calibration": [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
        "effv2nb": __version__,
        "cpu": _cpu_kind() if dtype == "int8" else None,   # reduce_range auto depends on the host kernels
    }
    fingerprint = hashlib.sha256(json.dumps(fingerprint_src, sort_keys=True, default=str).encode()).hexdigest()
    if not force and mod_onnx.is_file() and mod_json.is_file():
        try:
            old = json.loads(mod_json.read_text())
            if old.get("fingerprint") == fingerprint and old.get("mod_onnx_sha256") == sha256_file(mod_onnx):
                log(f"up to date, skipped: {mod_onnx} (same config, checkpoint and calibration files; "
                    "--force recompiles)")
                return mod_onnx
        except (OSError, ValueError):
            pass

    import onnxruntime as ort

    t0 = time.perf_counter()
    log(f"compiling {config_path} -> {mod_onnx} ({dtype}, open stack: ONNX Runtime {ort.__version__})")
    check, int8_check = {}, None
    with atomic_paths(mod_onnx, mod_json) as (tmp, tmp_json):   # both files replaced, or neither
        if dtype == "fp16":
            convert_fp16(ckpt, tmp)
            probe = [_fixed_input(_session(ckpt), batch=1, seed=s)[cfg.input_name] for s in range(4)]
        else:
            probe, int8_check = _compile_int8(cfg, config_path, ckpt, files, qs, tmp, log, progress)
        check = compare(ckpt, tmp, probe)
        if int8_check:
            chosen = next(c for c in int8_check["decision"]["candidates"]
                          if c["reduce_range"] == int8_check["decision"]["chosen"])
            check.update({k: chosen[k] for k in ("exact_sqnr_db", "host_sqnr_db", "exact_agreement",
                                                 "host_agreement", "host_loss_db")})
        if cfg.extra_op == "softmax":
            add_softmax(tmp)
        _smoke_run(tmp)
        mod_sha = sha256_file(tmp)
        wall = time.perf_counter() - t0
        manifest = {
            "name": cfg.name,
            "config_file": str(config_path.resolve()),
            "config": compiled,
            "dtype": dtype,
            "compiler": "effv2nb open stack (ONNX Runtime)",
            "source_model": _source_model(ckpt),
            "checkpoint": str(ckpt.resolve()),
            "checkpoint_sha256": fingerprint_src["checkpoint_sha256"],
            "input": {"name": cfg.input_name, "shape": cfg.input_shape},
            "extra_ops": cfg.extra_op,
            "quantize": dict(qs, reduce_range_used=int8_check["decision"]["chosen"]) if int8_check else qs,
            "calibration_files": [str(f) for f in files],
            "check_vs_fp32": check,
            "int8_check": int8_check,
            "onnxruntime": ort.__version__,
            "effv2nb": __version__,
            "wall_time_s": round(wall, 3),
            "mod_onnx_sha256": mod_sha,
            "fingerprint": fingerprint,
        }
        put_bytes(tmp_json, (json.dumps(manifest, indent=2) + "\n").encode())
    log(f"wrote {mod_onnx} and {mod_json.name} in {wall:.1f} s; vs fp32 on {check['n']} inputs: "
        f"rel L2 {check['rel_l2']:.2e}, top-1 agreement {check['top1_agreement'] * 100:.1f} %")
    if int8_check:
        log(f"int8 logit SQNR vs fp32: exact {check['exact_sqnr_db']:.2f} dB (the accelerator's arithmetic), "
            f"host {check['host_sqnr_db']:.2f} dB (this CPU's kernels); {int8_check['cpu']['line']}")
    return mod_onnx


CHECK_IMAGES = 16      # calibration images the int8 guard measures exact against host on (8 when quick)


def _compile_int8(cfg, config_path, ckpt, files, qs, out, log, progress):
    """Quantize into ``out``, deciding ``reduce_range`` with the int8 guard; returns (probe, record).

    The first candidate is written to ``out`` itself (a temporary name in the output folder), a second
    one (``auto`` on a saturating host) beside it under a temporary name too; the loser is removed.
    """
    from effv2nb.core import cpu
    from effv2nb.quant import int8_guard
    from effv2nb.compile.calibration import CalibrationReader
    from effv2nb.data.folds import spread
    from effv2nb.quant.int8_paths import run
    from effv2nb.core.settings import sized

    fn = CalibrationReader(files, cfg.dataset.process_ops, cfg.input_name).fn
    probe = np.stack([fn(f) for f in spread(files, sized(CHECK_IMAGES, CHECK_IMAGES // 2))])
    ref = run(ckpt, probe)
    log(f"calibrating on {len(files)} images from {cfg.dataset_path} "
        f"({qs['calibrate_mode']} -> {qs['calibrate_method']}, per-channel {qs['per_channel']}, "
        f"reduce_range {str(qs['reduce_range']).lower()}, chunks of {_chunk_for(len(files), qs['chunk_size'])})")
    out = Path(out)
    targets = [out, out.with_name(out.name[: -len(".tmp")] + "_7bit.tmp" if out.name.endswith(".tmp")
                                  else out.name + ".7bit")]
    made = {}

    def measure(reduce_range: bool) -> dict:
        reader = CalibrationReader(files, cfg.dataset.process_ops, cfg.input_name, progress=progress)
        made[reduce_range] = quantize_int8(
            ckpt, targets[len(made)], reader,
            calibrate_mode=qs["calibrate_mode"], per_channel=qs["per_channel"], reduce_range=reduce_range,
            nodes_to_exclude=qs["nodes_to_exclude"], activation_type=qs["activation_type"],
            weight_type=qs["weight_type"], chunk_size=qs["chunk_size"])
        return int8_guard.check(ref, made[reduce_range], probe)

    try:
        decision = int8_guard.decide(qs["reduce_range"], measure, log, where=str(config_path))
        if made[decision["chosen"]] != out:
            os.replace(made[decision["chosen"]], out)
    finally:
        targets[1].unlink(missing_ok=True)
    facts = cpu.facts()
    return list(probe), {"cpu": dict(facts, kind=cpu.kind(facts), line=cpu.describe(facts)),
                         "probe_images": [str(f) for f in spread(files, len(probe))], "decision": decision}


def _cpu_kind():
    from effv2nb.core.cpu import kind

    return kind()


def _source_model(ckpt):
    """The suite model a checkpoint was exported from, by the export's name ``<model>_<size>.onnx``."""
    import re

    from effv2nb.model.models import MODEL_NAMES

    stem = re.sub(r"_\d+$", "", Path(ckpt).stem)
    return stem if stem in MODEL_NAMES else None


def _session(path):
    from effv2nb.export.onnx_export import ort_session

    return ort_session(path)


def read_manifest(mod_onnx_or_prefix) -> dict:
    """The ``mod.json`` beside a compiled model (path of ``mod.onnx``, the prefix ``.../mod`` or the folder)."""
    p = Path(mod_onnx_or_prefix)
    folder = p if p.is_dir() else p.parent
    path = folder / MOD_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise Effv2nbError("no manifest: not a compiled model folder", path) from None
    except (OSError, ValueError) as exc:
        raise Effv2nbError(f"cannot read manifest: {exc}", path) from None
