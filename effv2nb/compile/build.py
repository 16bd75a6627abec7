"""Notebook 03, ``python -m effv2nb compile BUILD.yaml``: orchestration, output folder and manifest.

``compile``: the vendor's ``vamc compile BUILD.yaml``, on the open stack when ``vamc`` is absent.

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

import hashlib
import json
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

from effv2nb import __version__
from effv2nb.core.atomic import atomic_paths, output_folder, put_bytes
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.checksums import file_sha256
from effv2nb.core.ort_session import ort_session
from effv2nb.compile.graph_edit import add_softmax, at_input_size
from effv2nb.compile.ort_quantize import (CALIBRATE_METHODS, DEFAULT_ACTIVATION_TYPE, DEFAULT_CHUNK, DEFAULT_WEIGHT_TYPE,
                                          calibrate_method, chunk_for, convert_fp16, quantize_int8)
from effv2nb.compile.output_check import compare_outputs, fixed_input, smoke_run
from effv2nb.quant.int8_guard import AUTO, DEFAULT_REDUCE_RANGE

MOD_ONNX, MOD_JSON = "mod.onnx", "mod.json"


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
    if isinstance(have[1], int) and have[1] and have[1] != want[1]:
        raise Effv2nbError(f"shape {want} does not fit the model's input {have}", cfg.source,
                           f"frontend.shape.{name}")
    fixed = [isinstance(have[a], int) and have[a] for a in (2, 3)]
    return all(fixed) and (have[2], have[3]) != (want[2], want[3])     # compiled at the YAML's H x W


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
        "percentile": (float(q.calib_percentile) if q.calib_percentile is not None and q.calibrate_mode == "percentile"
                       else None),
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
    resize = _check_onnx_input(cfg, ckpt)
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
        "config": compiled, "checkpoint_sha256": file_sha256(ckpt), "dtype": dtype, "quantize": qs,
        "calibration": [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files],
        "effv2nb": __version__,
        "cpu": _cpu_kind() if dtype == "int8" else None,   # reduce_range auto depends on the host kernels
    }
    fingerprint = hashlib.sha256(json.dumps(fingerprint_src, sort_keys=True, default=str).encode()).hexdigest()
    if not force and mod_onnx.is_file() and mod_json.is_file():
        try:
            old = json.loads(mod_json.read_text())
            if old.get("fingerprint") == fingerprint and old.get("mod_onnx_sha256") == file_sha256(mod_onnx):
                log(f"up to date, skipped: {mod_onnx} (same config, checkpoint and calibration files; "
                    "--force recompiles)")
                return mod_onnx
        except (OSError, ValueError):
            pass

    import tempfile

    import onnxruntime as ort

    t0 = time.perf_counter()
    if not resize:
        return _compile(cfg, config_path, ckpt, dtype, files, qs, fingerprint, fingerprint_src, mod_onnx,
                        mod_json, t0, log, progress)
    with tempfile.TemporaryDirectory(prefix="effv2nb-compile-") as scratch:     # only for a re-shaped export
        h, w = cfg.input_shape[2], cfg.input_shape[3]
        log(f"note: {ckpt.name} was exported at another size; compiling it at frontend.shape's {h}x{w}, "
            "as vamc compiles at the build YAML's shape")
        ckpt = Path(scratch) / f"{ckpt.stem}_{h}x{w}.onnx"
        at_input_size(cfg.checkpoint_path, cfg.input_name, h, w, ckpt)
        return _compile(cfg, config_path, ckpt, dtype, files, qs, fingerprint, fingerprint_src, mod_onnx,
                        mod_json, t0, log, progress)


def _compile(cfg, config_path, ckpt, dtype, files, qs, fingerprint, fingerprint_src, mod_onnx, mod_json, t0,
             log, progress) -> Path:
    import onnxruntime as ort

    log(f"compiling {config_path} -> {mod_onnx} ({dtype}, open stack: ONNX Runtime {ort.__version__})")
    check, int8_check = {}, None
    with atomic_paths(mod_onnx, mod_json) as (tmp, tmp_json):   # both files replaced, or neither
        if dtype == "fp16":
            convert_fp16(ckpt, tmp)
            probe = [fixed_input(ort_session(ckpt), batch=1, seed=s)[cfg.input_name] for s in range(4)]
        else:
            probe, int8_check = _compile_int8(cfg, config_path, ckpt, files, qs, tmp, log, progress)
        check = compare_outputs(ckpt, tmp, probe)
        if int8_check:
            chosen = next(c for c in int8_check["decision"]["candidates"]
                          if c["reduce_range"] == int8_check["decision"]["chosen"])
            check.update({k: chosen[k] for k in ("exact_sqnr_db", "host_sqnr_db", "exact_agreement",
                                                 "host_agreement", "host_loss_db")})
        if cfg.extra_op == "softmax":
            add_softmax(tmp)
        smoke_run(tmp)
        mod_sha = file_sha256(tmp)
        wall = time.perf_counter() - t0
        manifest = {
            "name": cfg.name,
            "config_file": str(config_path.resolve()),
            "config": fingerprint_src["config"],
            "dtype": dtype,
            "compiler": "effv2nb open stack (ONNX Runtime)",
            "source_model": _source_model(cfg.checkpoint_path),
            "checkpoint": str(cfg.checkpoint_path.resolve()),
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
        log(f"int8 logit SQNR vs fp32: exact {check['exact_sqnr_db']:.2f} dB (QDQ as written: the suite's model of the accelerator), "
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
        f"reduce_range {str(qs['reduce_range']).lower()}, chunks of {chunk_for(len(files), qs['chunk_size'])})")
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
            weight_type=qs["weight_type"], chunk_size=qs["chunk_size"],
            extra_options=None if qs["percentile"] is None else {"CalibPercentile": qs["percentile"]})
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

    from effv2nb.model.names import MODEL_NAMES

    stem = re.sub(r"_\d+$", "", Path(ckpt).stem)
    return stem if stem in MODEL_NAMES else None


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
