"""Notebooks 03-04: the shipped build YAML for the loaded model, ready to ``compile`` in this run.

The configs in ``data/configs/`` are the vendor's layout for each model (``<model>_fp16.yaml``,
``<model>_int8.yaml``). ``tiny``'s point at files that ship with the suite, so they compile as they are.
An ImageNet model's point at ``build/onnx/<model>_<size>.onnx`` and ``build/calib_images`` beside the
repository, which a user makes; in a notebook run, ``config_for_run`` exports the loaded model (the same
instance every other step uses) at the run's size and writes a copy of the shipped file that points at
that export and at a calibration folder (``effv2nb.formats.config_copy``).
"""
from __future__ import annotations

from pathlib import Path

from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR
from effv2nb.formats.build_config import load_build_config
from effv2nb.formats.config_copy import copy_config
from effv2nb.model import models


def shipped_config(model_name: str, dtype: str) -> Path:
    """``data/configs/<model>_<dtype>.yaml`` (``dtype``: ``fp16`` or ``int8``)."""
    path = DATA_DIR / "configs" / f"{model_name}_{dtype}.yaml"
    if not path.is_file():
        raise Effv2nbError(f"no shipped build config for {model_name} {dtype}", path)
    return path


def export_for_run(model, workdir, size: int) -> Path:
    """``workdir/<model>_<size>.onnx`` of this model instance (random weights conditioned first, as notebook 02 does)."""
    from effv2nb.export.onnx_export import condition_random_model, export_onnx

    out = Path(workdir) / f"{models.info(model).name}_{size}.onnx"
    if not out.is_file():
        condition_random_model(model, size)
        export_onnx(model, out, size=size)
    return out


def config_for_run(model, dtype: str, workdir, size: int, calib_dir=None, checkpoint=None) -> Path:
    """The shipped ``dtype`` config for ``model`` as this run compiles it.

    As shipped when its checkpoint exists and its input size is ``size`` (``tiny`` at 64 px); otherwise
    ``workdir/<model>_<dtype>.yaml``: a copy pointing at ``checkpoint`` (default: an export of ``model``
    at ``size``), at ``calib_dir`` and at ``workdir/deploy_weights``, with the input size set to ``size``.
    """
    name = models.info(model).name
    shipped = shipped_config(name, dtype)
    cfg, _ = load_build_config(shipped)
    if cfg.checkpoint_path.is_file() and cfg.input_shape[-1] == size and checkpoint is None and calib_dir is None:
        return shipped
    if calib_dir is None and not cfg.dataset_path.is_dir():
        raise Effv2nbError(f"{name} needs calibration images: set EFFV2NB_CALIB_DIR (or EFFV2NB_VAL_DIR) to a folder "
                           f"DIR/<class>/<image>", shipped, "dataset.path")
    workdir = Path(workdir)
    checkpoint = checkpoint or export_for_run(model, workdir, size)
    return copy_config(shipped, workdir / f"{name}_{dtype}.yaml", checkpoint=checkpoint, calib_dir=calib_dir,
                       workspace=workdir / "deploy_weights", size=size)
