"""Where a build YAML and a vdsp JSON disagree: notebook 03, ``python -m effv2nb config cross-check CONFIG VDSP``.

Both files are put in the same plain terms (output size, resize, crop box, mean/std on the 0-1
scale, colour order): the vdsp file through its ``NormaType`` table (``effv2nb.formats.vdsp.NORMAS``),
the build config through the one ``process_ops`` decoder (``effv2nb.formats.process_ops``).
Reference: ``docs/vendor-files.md``, sections "vdsp_params JSON" and "process_ops".
"""
from __future__ import annotations

from effv2nb.formats.process_ops import plain_terms
from effv2nb.formats.vdsp import CROP_OP, NORMAS


def preprocessing(d: dict) -> dict:
    """A vdsp dict in plain terms: output size, resize, crop box, 0-1 mean/std, colour order."""
    c = d.get("OpConfig", {})
    norma = c.get("NormaType")
    mean, std = c.get("Mean"), c.get("Std")
    n = NORMAS.get(norma) if isinstance(norma, str) else None
    scale = 1 if n is None or n.div255 else 255    # the model sees (x01 * 255 / scale - m) / s
    if n is not None and n.mean_std and mean and std and scale != 1:
        mean, std = [m / scale for m in mean], [s / scale for s in std]
    elif n is not None and not n.mean_std:
        mean, std = [0.0] * 3, [1 / scale] * 3
    crop = d.get("OpType") == CROP_OP
    return {"out": (c.get("OimageHeight"), c.get("OimageWidth")),
            "resize": (c.get("ResizeHeight"), c.get("ResizeWidth")),
            "crop_xy": (c.get("CropX", 0), c.get("CropY", 0)) if crop else (0, 0),
            "mean": mean, "std": std, "bgr": c.get("ColorCvtCode") in ("RGB2BGR", "BGR2RGB")}


def build_preprocessing(cfg) -> dict:
    """The same plain terms from a build config's ``frontend.shape`` and ``dataset.process_ops``."""
    shape = cfg.input_shape
    out = {"out": (shape[2], shape[3]), "resize": None, "crop": None, "mean": None, "std": None, "bgr": False}
    plain_terms(cfg.dataset.process_ops, out)     # one decoder: effv2nb.formats.process_ops
    return out


def cross_check(build_cfg, vdsp: dict, tol: float = 2e-3) -> list:
    """Where a build config (``BuildConfig``) and a vdsp dict disagree; ``[]`` when they agree.

    Each entry is a one-line message naming both keys. Mean/std compare on the 0-1 scale within
    ``tol`` (float16 rounding is ~5e-4).
    """
    b, v = build_preprocessing(build_cfg), preprocessing(vdsp)
    out = []
    if None not in v["out"] and tuple(v["out"]) != tuple(b["out"]):
        out.append(f"input size: frontend.shape says {b['out'][0]}x{b['out'][1]}, "
                   f"OpConfig.OimageHeight/OimageWidth say {v['out'][0]}x{v['out'][1]}")
    for k in ("mean", "std"):
        if b[k] is not None and v[k] is not None and (
                len(b[k]) != len(v[k]) or any(abs(x - y) > tol for x, y in zip(b[k], v[k]))):
            out.append(f"{k}: dataset.process_ops Normalize {k} (0-1 scale) {[round(x, 4) for x in b[k]]} vs "
                       f"OpConfig.{k.capitalize()} {[round(x, 4) for x in v[k]]}")
    if b["bgr"] != v["bgr"]:
        out.append(f"colour order: process_ops {'swap' if b['bgr'] else 'keep'} RGB, "
                   f"OpConfig.ColorCvtCode {vdsp.get('OpConfig', {}).get('ColorCvtCode')}")
    if b["resize"] is not None and None not in v["resize"] and not b.get("resize_shorter_side"):
        if tuple(b["resize"]) != tuple(v["resize"]):
            out.append(f"resize: Resize size {list(b['resize'])} vs OpConfig.ResizeHeight/ResizeWidth "
                       f"{list(v['resize'])}")
    if None not in v["resize"] and None not in v["out"]:
        vcrop = tuple(v["out"]) != tuple(v["resize"])
        bcrop = b["crop"] is not None and b["resize"] is not None and tuple(b["crop"]) != tuple(b["resize"])
        if bcrop != vcrop or (b["crop"] and tuple(b["crop"]) != tuple(v["out"])):
            out.append(f"crop: process_ops CenterCrop {list(b['crop']) if b['crop'] else None} after Resize "
                       f"{list(b['resize']) if b['resize'] else None}, vdsp crops {v['out'][0]}x{v['out'][1]} "
                       f"at (CropX, CropY) = {v['crop_xy']} from {v['resize'][0]}x{v['resize'][1]}")
        elif vcrop:
            rh, rw = v["resize"]
            oh, ow = v["out"]
            want = ((rw - ow) // 2, (rh - oh) // 2)
            if tuple(v["crop_xy"]) != want and abs(v["crop_xy"][0] - want[0]) > 1:
                out.append(f"crop position: CenterCrop is centred, OpConfig.CropX/CropY {v['crop_xy']} "
                           f"(centred would be {want})")
    return out
