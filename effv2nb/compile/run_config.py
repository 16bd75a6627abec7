"""Notebooks 03-05: the shipped vendor files for the loaded model (build YAML, vdsp JSON), ready for this run.

The configs in ``data/configs/`` are the vendor's layout for each model (``<model>_fp16.yaml``,
``<model>_int8.yaml``). ``tiny``'s point at files that ship with the suite, so they compile as they are.
An ImageNet model's point at ``build/onnx/<model>_<size>.onnx`` and ``build/calib_images`` beside the
repository, which a user makes; in a notebook run, ``config_for_run`` exports the loaded model (the same
instance every other step uses) at the run's size and writes a copy of the shipped file that points at
that export and at a calibration folder (``effv2nb.formats.config_copy``). ``vdsp_for_run`` does the same
for the device preprocessing file: the shipped one when it is at the run's size, else one generated at it.
"""
from __future__ import annotations

from pathlib import Path

from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR
from effv2nb.formats.build_config import load_build_config
from effv2nb.formats.config_copy import copy_config
from effv2nb.formats.vdsp import generate_vdsp, load_vdsp, resolve, save_vdsp
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


def _common_suffix(folder) -> str:
    """The file suffix most images under ``folder`` have (``JPEG``, ``jpg``, ``png``): the sampler's ``suffix``."""
    from collections import Counter

    from effv2nb.data.datasets import list_images

    found = Counter(p.suffix.lstrip(".") for p in list_images(folder))
    if not found:
        raise Effv2nbError("no images in the calibration folder", folder)
    return found.most_common(1)[0][0]


def config_for_run(model, dtype: str, workdir, size: int, calib_dir=None, checkpoint=None) -> Path:
    """The shipped ``dtype`` config for ``model`` as this run compiles it.

    As shipped when its checkpoint exists and its input size is ``size`` (``tiny`` at 64 px); otherwise
    ``workdir/<model>_<dtype>.yaml``: a copy pointing at ``checkpoint`` (default: an export of ``model``
    at ``size``), at ``calib_dir`` (its images' suffix becomes ``dataset.sampler.suffix``) and at
    ``workdir/deploy_weights``, with the input size set to ``size``.
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
                       workspace=workdir / "deploy_weights", size=size,
                       suffix=None if calib_dir is None else _common_suffix(calib_dir))


def shipped_vdsp(model_name: str) -> Path:
    """``data/configs/<file>``: the vendor's ``timm-<model>-vdsp_params.json``, or ``tiny-vdsp_params.json``."""
    return DATA_DIR / "configs" / ("tiny-vdsp_params.json" if model_name == "tiny"
                                   else f"timm-{model_name}-vdsp_params.json")


def vdsp_for_run(model, size: int, workdir, chosen=None):
    """The device preprocessing for this run: ``(path, vdsp dict, note)``.

    ``chosen`` (``EFFV2NB_VDSP`` in the notebooks), else the model's shipped file, when its output is
    ``size`` x ``size``; otherwise ``workdir/<model>-<size>-vdsp_params.json``, generated from the model
    at ``size`` (``generate_vdsp``). ``note`` says which, in one line.
    """
    name = models.info(model).name
    path = Path(chosen) if chosen else shipped_vdsp(name)
    if path.is_file():
        vdsp = load_vdsp(path)
        op = resolve(vdsp, size)
        if (op.out_h, op.out_w) == (size, size):
            return path, vdsp, f"vdsp file {path.name}"
        why = f"{path.name} is not at {size} px"
    else:
        why = f"no vdsp file {path.name}"
    vdsp = generate_vdsp(model, size=size)
    path = save_vdsp(vdsp, Path(workdir) / f"{name}-{size}-vdsp_params.json", backup=False)
    return path, vdsp, f"vdsp: {why}; generated {path.name} at {size} px"
