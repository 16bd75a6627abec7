"""Which keys of a build YAML reach the vendor's compiler: notebook 05 ("What reaches the device"), docs.

The suite's compile reads a few keys the vendor's ``vamc`` does not know (``docs/vendor-files.md``,
"Suite extras"); ``vamc`` ignores them. The vendor's model page documents, for int8, only
``backend.dtype: int8`` with a calibration dataset and preprocessing, and ``calibrate_mode`` (percentile
works best, it says). ``KEYS`` says, for every ``backend.quantize`` / ``dataset`` key the suite writes,
whether ``vamc`` reads it and, where it does not, what a user can do on the vendor's toolchain —
or that nothing documented can be done. ``reach(path)`` applies it to one YAML.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    key: str
    vamc_reads: bool
    on_the_vendor_toolchain: str


KEYS = (
    Key("backend.quantize.calibrate_mode", True,
        "read; the vendor's page names it and finds percentile best (that its max/percentile match ONNX "
        "Runtime's MinMax/Percentile is not documented)"),
    Key("backend.quantize.quantize_per_channel", True, "read (a key of the vendor's own files)"),
    Key("dataset.path", True, "read: the calibration images"),
    Key("dataset.sampler.get_data_num", True, "read: how many of the folder's sorted files"),
    Key("dataset.process_ops", True, "read: the calibration preprocessing"),
    Key("dataset.sampler.pick", False,
        "can be done: put exactly the chosen images in dataset.path (vamc takes the first get_data_num "
        "sorted files); the numbered folder notebook 05 writes (effv2nb.quant.scored_build) is such a folder"),
    Key("backend.quantize.nodes_to_exclude", False,
        "nothing documented: no vendor key keeps a chosen node in float (skip_matmul_layers appears in the "
        "vendor's files, undocumented, and by its name covers MatMul layers only); on the device the recipe "
        "is its all-int8 base"),
    Key("backend.quantize.calib_percentile", False,
        "nothing documented: vamc's percentile mode takes no percentile value; the device uses its own"),
    Key("backend.quantize.reduce_range", False,
        "nothing to carry over: 7-bit weights only keep this CPU's 16-bit u8xs8 sums from saturating; an "
        "accelerator that adds in 32 bits (the suite's assumption) uses 8-bit weights"),
    Key("backend.quantize.activation_type", False, "nothing documented: the device chooses its integer types"),
    Key("backend.quantize.weight_type", False, "nothing documented: the device chooses its integer types"),
    Key("backend.quantize.calib_chunk_size", False, "nothing to carry over: memory only, the ranges are the same"),
)
BY_KEY = {k.key: k for k in KEYS}


def _get(raw: dict, dotted: str):
    d = raw
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def reach(yaml_path) -> list:
    """One row per key of ``KEYS`` set in the build YAML: ``{"key", "value", "vamc_reads", "what"}``."""
    from effv2nb.formats.build_config import read_yaml

    raw = read_yaml(yaml_path)
    rows = []
    for k in KEYS:
        value = _get(raw, k.key)
        if value is not None:
            rows.append({"key": k.key, "value": value, "vamc_reads": k.vamc_reads, "what": k.on_the_vendor_toolchain})
    return rows


def _shown(value) -> str:
    if isinstance(value, list) and len(value) > 3:
        return f"[{len(value)} items]"
    text = str(value)
    if len(text) > 40 and "/" in text:          # a path: its last part says which folder
        text = "…/" + text.rstrip("/").rsplit("/", 1)[-1]
    return text if len(text) <= 40 else "…" + text[-39:]


def format_reach(rows) -> str:
    """The rows as a table: read by vamc first, then the keys it ignores with what can be done."""
    lines = [f"{'key':<38} {'value':<42} vamc"]
    for r in sorted(rows, key=lambda r: not r["vamc_reads"]):
        lines.append(f"{r['key']:<38} {_shown(r['value']):<42} {'reads' if r['vamc_reads'] else 'ignores'}")
    ignored = [r for r in rows if not r["vamc_reads"]]
    if ignored:
        lines.append("")
        lines.append("keys vamc ignores, and what can be done on the vendor's toolchain:")
        lines += [f"  {r['key']}: {r['what']}" for r in ignored]
    return "\n".join(lines)
