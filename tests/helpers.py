"""Small helpers shared by test modules (tests/ is on sys.path under pytest)."""
import yaml

from effv2nb.formats import build_config as config
from effv2nb.core.settings import DATA_DIR

CONFIGS = DATA_DIR / "configs"


def shipped_config(tmp_path, name="tiny_int8.yaml", **changes):
    """A copy of a shipped build config in ``tmp_path`` (paths made absolute), with values changed at
    dotted keys, e.g. ``**{"dataset.sampler.get_data_num": 4, "workspace.path": str(tmp_path / "ws")}``."""
    cfg, _ = config.load_build_config(CONFIGS / name)
    raw = config.rebase_paths(cfg.to_dict(), CONFIGS, tmp_path)
    for dotted, value in changes.items():
        d = raw
        keys = dotted.split(".")
        for k in keys[:-1]:
            d = d.setdefault(k, {})
        d[keys[-1]] = value
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p
