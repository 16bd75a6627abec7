"""effv2nb: EfficientNetV2 from timm to an inference accelerator, with real numbers at each step."""
import os

# PyTorch (OpenMP) and ONNX Runtime share this process in the notebooks and benchmarks. With OpenMP's
# default spin-waiting, PyTorch's idle threads steal the cores from ONNX Runtime's and the reverse:
# measured on 2 cores, rw_t eager fell from 8.6 to 0.3 images/s next to an ORT session. Passive
# waiting (set before torch loads; an explicit setting wins) keeps both at full speed.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from effv2nb.core.errors import Effv2nbError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Effv2nbError", "__version__"]
