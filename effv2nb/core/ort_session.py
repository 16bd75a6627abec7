"""The one ONNX Runtime session factory, used by every step that runs an ONNX model on the host:
notebooks 02-06; ``export``, ``compile``, ``infer``, ``int8-report``, ``bench``.

``optimize=False`` is the "exact path": every graph optimization off, so an int8 QDQ model runs each
QuantizeLinear / DequantizeLinear as written (``effv2nb.quant.int8_paths``) instead of ONNX Runtime's
fused int8 kernels. ``profile_prefix`` turns ORT's profiler on (``effv2nb.bench.timing.op_time_profile``);
``optimized_path`` saves the graph as the session optimized it (``effv2nb.quant.int8_kernels``).
"""
from __future__ import annotations

from effv2nb.core.errors import Effv2nbError

CPU = ["CPUExecutionProvider"]


def ort_session(model, threads: int | None = None, optimize: bool = True, providers=None,
                profile_prefix: str | None = None, optimized_path=None, spin: bool = True):
    """A quiet ONNX Runtime session on ``model``: a file path, an ``onnx.ModelProto`` or its bytes.

    ``spin=False``: the intra-op threads sleep when they run out of work instead of spinning (ORT's
    ``session.intra_op.allow_spinning``). The interleaved timings use it (``effv2nb.bench``): with several
    sessions timed A B C A B C on two cores, a session that has just finished keeps both cores busy
    spinning while the next one runs, and the per-round ratios split into a fast and a slow cluster.

    A model file ORT cannot load is an ``Effv2nbError`` naming the file.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        so.intra_op_num_threads = int(threads)
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = str(profile_prefix)
    if optimized_path:
        so.optimized_model_filepath = str(optimized_path)
    if hasattr(model, "SerializeToString"):
        return ort.InferenceSession(model.SerializeToString(), so, providers=providers or CPU)
    if isinstance(model, (bytes, bytearray)):
        return ort.InferenceSession(bytes(model), so, providers=providers or CPU)
    try:
        return ort.InferenceSession(str(model), so, providers=providers or CPU)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        raise Effv2nbError(f"ONNX Runtime cannot load the model: {str(exc).splitlines()[0][:200]}",
                           model) from None
