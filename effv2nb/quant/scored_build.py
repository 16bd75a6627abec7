"""The recipe a study scored, as a build YAML that ``compile`` turns into the same model: notebook 05, section 8.

A recipe is quantized on the first ``num_calib`` of the study's calibration arrays
(``int8_report.prepare``: an even spread of the calibration fold, in order). ``scored_build`` writes
exactly those files, in that order, as a flat folder of numbered links, and a build YAML whose
``backend.quantize`` is the recipe's (``Recipe.build_yaml_quantize``: calibrate mode, per-channel,
``reduce_range``, ``nodes_to_exclude``, ``calib_percentile``) and whose sampler takes every one of those
files in order (``pick: first``, ``get_data_num`` = the recipe's count). So ``compile`` calibrates on the
same images with the same settings; notebook 05 asserts that the compiled ``mod.onnx`` scores the
same exact SQNR on the test fold as the study's own model.
"""
from __future__ import annotations

from pathlib import Path

from effv2nb.data import folds


def calibration_files(st, recipe) -> list:
    """The image files ``recipe`` was calibrated on in study ``st``, in the order it saw them."""
    every = folds.spread([s.path for s in st.split["calibration"]], len(st.calib))
    return every[: min(int(recipe.num_calib), len(every))]


def link_in_order(files, dest) -> Path:
    """``dest/00000_<name>``, ``dest/00001_<name>`` ...: symbolic links to ``files`` whose sorted order is
    theirs (the vendor's sampler and ``compile`` take files in sorted order). Old links are removed."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.is_symlink():
            old.unlink()
    for i, f in enumerate(files):
        (dest / f"{i:05d}_{Path(f).name}").symlink_to(Path(f).resolve())
    return dest


def scored_build(st, recipe, base_yaml, out_yaml, workspace, name, size=None) -> tuple:
    """(build YAML, calibration folder) for ``recipe`` as study ``st`` scored it; the YAML is written
    atomically from ``base_yaml`` (every key the suite does not set is kept)."""
    from effv2nb.quant.fallback_yaml import fallback_config

    files = calibration_files(st, recipe)
    folder = link_in_order(files, Path(out_yaml).parent / f"{Path(out_yaml).stem}_calibration")
    out = fallback_config(base_yaml, out_yaml, recipe.replace(num_calib=len(files)), checkpoint=st.fp32,
                          workspace=workspace, name=name, calib_dir=folder, size=size, pick="first")
    return out, folder
