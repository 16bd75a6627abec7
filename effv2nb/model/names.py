"""Notebooks 00-06 and ``python -m effv2nb compile``: the model names the suite knows, without importing torch.

``compile`` reads them to name a checkpoint's model; under an emulated CPU importing torch alone takes
minutes. ``effv2nb.model.models`` builds the models and re-exports these names.
"""

TIMM_MODELS = ("efficientnetv2_rw_t", "efficientnetv2_rw_s", "efficientnetv2_rw_m")
MODEL_NAMES = TIMM_MODELS + ("tiny",)
