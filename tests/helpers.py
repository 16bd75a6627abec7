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


def tiny_int8_env(work, val_limit=40, n_calib=20):
    """The tiny model exported to ``work/fp32.onnx``, ``val_limit`` validation digits and ``n_calib``
    calibration digits through its vdsp preprocessing, and the fp32 logits: (work, fp32, ev, calib, ref)."""
    from effv2nb.core.settings import DIGITS_DIR
    from effv2nb.export.onnx_export import export_onnx
    from effv2nb.formats.vdsp import generate_vdsp
    from effv2nb.model import models
    from effv2nb.quant import eval_sets, onnx_eval

    model = models.load("tiny")
    fp32 = export_onnx(model, work / "fp32.onnx")
    vdsp = generate_vdsp(model)
    ev = eval_sets.load_eval_set(DIGITS_DIR / "val", vdsp, models.info(model).labels(), 64, limit=val_limit)
    calib = eval_sets.calibration_arrays(DIGITS_DIR / "calib", vdsp, 64, n=n_calib)
    return work, fp32, ev, calib, onnx_eval.ort_run(fp32, ev.x)


TINY_PREFIX = DATA_DIR / "tiny_64"
TINY_VDSP = CONFIGS / "tiny-vdsp_params.json"


def photos_and_digits(root, photos: int):
    """``root/photos``: ImageNet-sized JPEGs in synset folders (one per class), ``root/digits``: the 400
    validation digits. The tiny model takes any picture at 64 px, so ``infer`` runs on both kinds."""
    import shutil

    from effv2nb.core.settings import DIGITS_DIR
    from effv2nb.data.imagenet_like import make_folder

    make_folder(root / "photos", photos)
    shutil.copytree(DIGITS_DIR / "val", root / "digits")
    return root


def tiny_infer_argv(src, out, *extra):
    """``infer`` on the shipped tiny model, batch 4, quiet."""
    return ["infer", "--file-path", str(src), "--model-prefix", str(TINY_PREFIX), "--vdsp-params", str(TINY_VDSP),
            "--save-dir", str(out), "--no-progress", "--batch", "4", *extra]
