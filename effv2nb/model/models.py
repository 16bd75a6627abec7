"""Every notebook (00-06) and every command that takes ``--model``: models and their weights.

Load EfficientNetV2 models with their weights, and say where the weights came from.

Weight resolution for ``load(name, weights="auto")``, in order:

1. an explicit path (``.pth``/``.pt``/``.safetensors``; timm-style ``state_dict``,
   ``state_dict_ema`` or ``model`` wrappers accepted);
2. the ``EFFV2NB_WEIGHTS`` environment variable (a path);
3. for ``tiny``: the trained weights shipped in ``data/``;
   for the timm models: timm's pretrained weights if already in the local hub cache, or
   downloaded when the hub is reachable (checked with a 2-second connect, never a hang;
   skipped when ``HF_HUB_OFFLINE=1``);
4. random initialisation — and the model says so. The draw is seeded (``load(..., seed=0)``), so two
   runs without weights build the same model; the global torch RNG is left as it was.

A ``.safetensors`` file whose metadata holds ``effv2nb_weights: random`` (written by
``effv2nb.export.random_weights.save_seeded``: random but seeded weights, the CI path of the ImageNet
models) loads like any file but counts as untrained: ``info(model).trained`` is False.

Checkpoints are never unpickled with code execution: ``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn

from effv2nb.core.errors import Effv2nbError
from effv2nb.data.labels import Labels
from effv2nb.core.settings import DIGITS_DIR, TINY_WEIGHTS
from effv2nb.model.names import MODEL_NAMES, TIMM_MODELS  # re-exported: models.MODEL_NAMES, models.TIMM_MODELS
from effv2nb.model.tiny import build_tiny

WEIGHTS_ENV = "EFFV2NB_WEIGHTS"
HUB_TIMEOUT_S = 2.0
RANDOM_MARK_KEY = "effv2nb_weights"   # safetensors metadata: "random" marks seeded random weights


@dataclass
class ModelInfo:
    """What a loaded model is: name, where its weights came from, its preprocessing."""

    name: str
    weights: str          # human-readable source
    trained: bool         # False only for random initialisation
    input_size: int
    mean: tuple
    std: tuple
    interpolation: str
    crop_pct: float
    num_classes: int

    def labels(self) -> Labels:
        from effv2nb.data import labels

        if self.name == "tiny":
            return labels.from_txt(DIGITS_DIR / "labels.txt")
        return labels.imagenet()

    @property
    def weights_warning(self) -> str:
        return "" if self.trained else "RANDOM WEIGHTS: predictions are meaningless"


def info(model: nn.Module) -> ModelInfo:
    """The ``ModelInfo`` attached by ``load``."""
    try:
        return model.effv2nb_info
    except AttributeError:
        raise Effv2nbError("this model was not loaded with effv2nb.model.models.load") from None


def _unwrap(obj, path):
    if isinstance(obj, dict):
        for key in ("state_dict_ema", "state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise Effv2nbError("not a state dict of tensors (nor a timm checkpoint holding one)", path)
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


def read_state_dict(path) -> dict:
    """Read weights from ``.safetensors`` or a torch checkpoint, never running pickled code."""
    path = Path(path)
    if not path.is_file():
        raise Effv2nbError("weights file not found", path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise Effv2nbError(f"cannot read safetensors file: {exc} (truncated or corrupt?)", path) from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and friends: the file wants to run code or is broken
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Effv2nbError(
            "refused to load: not a plain weights file (torch.load weights_only=True said: "
            f"{first[:160]})", path) from None
    return _unwrap(obj, path)


def random_marked(path) -> bool:
    """True for a ``.safetensors`` file marked as random (seeded) weights in its metadata."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return (fh.metadata() or {}).get(RANDOM_MARK_KEY) == "random"
    except Exception:  # unreadable: read_state_dict names the problem
        return False


def apply_state_dict(model: nn.Module, state: dict, name: str, path) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad_shape = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad_shape:
        raise Effv2nbError(
            f"checkpoint does not fit model '{name}': {len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(bad_shape)} wrong-shape keys (is it for another architecture?)", path)
    model.load_state_dict(state, strict=True)


def _hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        from huggingface_hub import constants

        host = urlparse(constants.ENDPOINT).hostname
        with socket.create_connection((host, 443), timeout=HUB_TIMEOUT_S):
            return True
    except (OSError, ImportError, ValueError):
        return False


def _timm_cached_file(model: nn.Module):
    hub_id = (getattr(model, "pretrained_cfg", None) or {}).get("hf_hub_id")
    if not hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for fname in ("model.safetensors", "pytorch_model.bin"):
        hit = try_to_load_from_cache(hub_id, fname)
        if isinstance(hit, str) and os.path.isfile(hit):
            return hit
    return None


def _build(name: str, seed: int = 0) -> nn.Module:
    """The architecture with its random initialisation drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "tiny":
            return build_tiny()
        import timm

        return timm.create_model(name, pretrained=False)


def _make_info(model, name, weights, trained):
    cfg = model.pretrained_cfg
    size = cfg.get("test_input_size", cfg["input_size"])[-1]
    return ModelInfo(
        name=name, weights=weights, trained=trained, input_size=int(size),
        mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), interpolation=cfg.get("interpolation", "bilinear"),
        crop_pct=float(cfg.get("test_crop_pct", cfg.get("crop_pct", 1.0))),
        num_classes=int(getattr(model, "num_classes", cfg.get("num_classes", 1000))))


def load(name: str, weights="auto", seed: int = 0) -> nn.Module:
    """Build ``name`` in eval mode with weights resolved as the module docstring says.

    ``weights``: a path, ``"auto"`` (resolution order above) or ``"random"``. ``seed``: the random
    initialisation's seed (what a model without weights keeps). The result carries
    ``model.effv2nb_info`` (see ``info``).
    """
    if name not in MODEL_NAMES:
        raise Effv2nbError(f"unknown model '{name}'; choose one of {', '.join(MODEL_NAMES)}")
    model = _build(name, seed)
    explicit = None if weights in ("auto", "random", None) else weights
    env = os.environ.get(WEIGHTS_ENV) if weights == "auto" else None

    if explicit is not None or env:
        path = Path(explicit if explicit is not None else env)
        apply_state_dict(model, read_state_dict(path), name, path)
        source = f"file {path}" + (f" (from ${WEIGHTS_ENV})" if explicit is None else "")
        trained = not random_marked(path)
        if not trained:
            source = "seeded random weights, " + source
    elif weights == "random":
        source, trained = f"random initialisation, seed {seed} (asked for)", False
    elif name == "tiny":
        if TINY_WEIGHTS.is_file():
            apply_state_dict(model, read_state_dict(TINY_WEIGHTS), name, TINY_WEIGHTS)
            source, trained = f"bundled {TINY_WEIGHTS.name} (trained on scikit-learn digits)", True
        else:
            source, trained = f"random initialisation, seed {seed} (bundled weights missing: run train-tiny)", False
    else:
        cached = _timm_cached_file(model)
        if cached:
            apply_state_dict(model, read_state_dict(cached), name, cached)
            source, trained = f"timm pretrained {model.pretrained_cfg.get('hf_hub_id')} (local hub cache)", True
        elif _hub_reachable():
            import timm

            model = timm.create_model(name, pretrained=True)
            source, trained = f"timm pretrained {model.pretrained_cfg.get('hf_hub_id')} (downloaded)", True
        else:
            source, trained = (f"random initialisation, seed {seed} (no local weights, no cached timm weights, hub offline; "
                               f"set {WEIGHTS_ENV} or pass a path)"), False
    model.eval()
    model.effv2nb_info = _make_info(model, name, source, trained)
    return model
