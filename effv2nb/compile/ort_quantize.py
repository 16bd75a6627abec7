"""ONNX Runtime's quantization and float16 conversion, as ``compile`` uses them: notebooks 03 and 05,
``python -m effv2nb compile`` (and ``int8-report``, ``bench --compare``).

``quantize_int8``: static quantization (QDQ) with the build YAML's ``calibrate_mode`` mapped to ORT's
calibrators (``max`` -> MinMax, ``percentile`` -> Percentile, ``kl_divergence`` -> Entropy; ``mse``
is refused), calibrating chunk by chunk so memory does not grow with the number of images. Spatial means (the SE
squeeze's ReduceMean) are quantized as GlobalAveragePool (``graph_edit.means_as_pooling``), so that ONNX
Runtime runs them on an integer kernel (``effv2nb.quant.int8_kernels`` counts what it fuses).
``convert_fp16``: float16 inside, float32 at the inputs and outputs (``onnxconverter_common``).
"""
from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from effv2nb.core.atomic import atomic_path, describe_os_error, explain_truncation
from effv2nb.core.errors import Effv2nbError
from effv2nb.compile.output_check import smoke_run

CALIBRATE_METHODS = {"max": "MinMax", "percentile": "Percentile", "kl_divergence": "Entropy"}
# u8 activations, s8 weights (fused on x86), reduce_range "auto": 8-bit weights unless this CPU's fused
# kernels saturate with them (effv2nb.quant.int8_guard measures it at compile time and records it in mod.json).
# All three are overridable under backend.quantize (reduce_range / activation_type / weight_type).
DEFAULT_ACTIVATION_TYPE = "uint8"
DEFAULT_WEIGHT_TYPE = "int8"
DEFAULT_CHUNK = 8


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


def chunk_for(total: int, wanted: int) -> int:
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
        options["CalibStridedMinMax"] = chunk_for(total, chunk_size)
    options.update(extra_options or {})
    with atomic_path(onnx_out) as tmp, tempfile.TemporaryDirectory(prefix="effv2nb-quant-") as work:
        # ORT writes its augmented model next to a temp copy; keep all of it out of the output folder
        tmp_out = Path(work) / "quant.onnx"
        # ... and <input>-inferred.onnx beside its input (left there when it fails): give it a link in
        # the temporary folder, so nothing is ever written beside the user's model
        tmp_src = Path(work) / "input.onnx"
        try:
            try:
                _prepare_input(onnx_in, tmp_src)
            except OSError as exc:       # the scratch copy could not be written: onnx_out cannot be made
                raise Effv2nbError(f"cannot write: {describe_os_error(exc)} (while writing the quantizer's "
                                   f"scratch copy in {work})", onnx_out) from None
            with contextlib.redirect_stdout(io.StringIO()), _quiet_root_logger():  # ORT prints per chunk
                quantize_static(
                    str(tmp_src), str(tmp_out), reader,
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


def _prepare_input(onnx_in: Path, tmp_src: Path) -> None:
    """``tmp_src`` (in the quantizer's temporary folder): the float model to quantize, ``onnx_in``
    with its spatial means spelled as pooling (``graph_edit.means_as_pooling``: the same arithmetic,
    on an integer kernel in the int8 model); a link to ``onnx_in`` when there is nothing to rewrite."""
    import onnx

    from effv2nb.compile.graph_edit import means_as_pooling

    model = onnx.load(str(onnx_in))
    if means_as_pooling(model):
        onnx.save(model, str(tmp_src))
        return
    try:
        tmp_src.symlink_to(onnx_in.resolve())
    except OSError:
        shutil.copyfile(onnx_in, tmp_src)


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
        smoke_run(tmp)
    return onnx_out
