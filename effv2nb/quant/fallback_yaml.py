"""A build YAML for an int8 recipe found by the study: notebook 05, ``int8-report``, then ``compile``.

``fallback_config`` writes a copy of a build YAML with the recipe's ``backend.quantize`` settings
(``docs/vendor-files.md``, section "Build YAML").
"""
from __future__ import annotations

from pathlib import Path

from effv2nb.core.errors import Effv2nbError
from effv2nb.quant.int8_recipes import Recipe


def fallback_config(base_yaml, out_yaml, recipe: Recipe, checkpoint=None, workspace=None, name=None,
                    calib_dir=None) -> Path:
    """A build YAML for ``recipe``: ``base_yaml`` with ``backend.quantize`` set (``nodes_to_exclude``
    included, so compile keeps those nodes in float and records them in ``mod.json``).

    Keys the suite does not model are kept. Relative paths are made absolute so the new file
    may live anywhere; ``checkpoint`` / ``workspace`` / ``name`` / ``calib_dir`` override.
    """
    import os

    from effv2nb.core import atomic
    from effv2nb.formats.build_config import dump_yaml, read_yaml

    base_yaml, out_yaml = Path(base_yaml), Path(out_yaml)
    raw = read_yaml(base_yaml)
    if not isinstance(raw, dict):
        raise Effv2nbError("not a build config (a YAML mapping)", base_yaml)
    base_dir = base_yaml.resolve().parent

    def sec(*keys):
        d = raw
        for k in keys:
            if not isinstance(d.get(k), dict):
                d[k] = {}
            d = d[k]
        return d

    for s, k in (("frontend", "checkpoint"), ("dataset", "path")):
        v = sec(s).get(k)
        if isinstance(v, str) and v and not Path(v).expanduser().is_absolute():
            sec(s)[k] = os.path.normpath(str(base_dir / v))
    if checkpoint is not None:
        sec("frontend")["checkpoint"] = str(Path(checkpoint).resolve())
    if calib_dir is not None:
        sec("dataset")["path"] = str(Path(calib_dir).resolve())
    if workspace is not None:
        sec("workspace")["path"] = str(Path(workspace).resolve())
    if name is not None:
        raw["name"] = str(name)
    sec("backend")["dtype"] = "int8"
    q = sec("backend", "quantize")
    q.update(recipe.build_yaml_quantize())
    if not recipe.nodes_to_exclude:
        q.pop("nodes_to_exclude", None)
    sec("dataset", "sampler")["get_data_num"] = int(recipe.num_calib)
    atomic.write_text(out_yaml, dump_yaml(raw))
    return out_yaml
