"""effv2nb: EfficientNetV2 from timm to an inference accelerator, with real numbers at each step."""
from .errors import Effv2nbError

__version__ = "0.1.0"
__all__ = ["Effv2nbError", "__version__"]
