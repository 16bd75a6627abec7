"""A build YAML for an int8 recipe found by the study: notebook 05, ``int8-report``, then ``compile``.

``fallback_config`` writes a copy of a build YAML with the recipe's ``backend.quantize`` settings
(``docs/vendor-files.md``, section "Build YAML").
"""
from __future__ import annotations

from pathlib import Path

from effv2nb.quant.int8_recipes import Recipe


def fallback_config(base_yaml, out_yaml, recipe: Recipe, checkpoint=None, workspace=None, name=None,
                    calib_dir=None, size=None, pick=None) -> Path:
    """A build YAML for ``recipe``: ``base_yaml`` with ``backend.quantize`` set (``nodes_to_exclude``
    included, so compile keeps those nodes in float and records them in ``mod.json``).

    Keys the suite does not model are kept. Relative paths are made absolute so the new file
    may live anywhere; ``checkpoint`` / ``workspace`` / ``name`` / ``calib_dir`` / ``size`` override
    (``effv2nb.formats.config_copy``); ``pick`` sets ``dataset.sampler.pick`` (``first`` or ``spread``).
    """
    from effv2nb.formats.config_copy import copy_config, section

    def edit(raw):
        section(raw, "backend")["dtype"] = "int8"
        q = section(raw, "backend", "quantize")
        q.update(recipe.build_yaml_quantize())
        for key in ("nodes_to_exclude", "calib_percentile"):     # not left over from the base YAML
            if key not in recipe.build_yaml_quantize():
                q.pop(key, None)
        section(raw, "dataset", "sampler")["get_data_num"] = int(recipe.num_calib)
        if pick is not None:
            section(raw, "dataset", "sampler")["pick"] = pick

    return copy_config(base_yaml, out_yaml, edit=edit, checkpoint=checkpoint, calib_dir=calib_dir,
                       workspace=workspace, name=name, size=size)
