"""Notebook 05 (the top-1 / top-5 chart): published accuracy figures for ``efficientnetv2_rw_t``.

The only typed-in accuracy numbers of the int8 study, kept here so that the chart and the text read
the same table. They are **not measured by this suite**: ImageNet validation (50,000 images), the
timm weights ``efficientnetv2_t_agc-3620981a.pth``, 288 px, on each source's own hardware. Top-1 / top-5 in %.

- ``vendor``: the vendor's EfficientNetV2 model page (the suite's ``docs/vendor-files.md``, section
  "Reference numbers"): fp32 82.344 / 96.196; on the vendor's device fp16 81.916 / 95.93 and int8
  77.07 / 94.372 (int8 calibrated on 50 images). Its int8 note (``VENDOR_INT8_NOTE``): "基本都会掉点",
  the EfficientNetV2 models *nearly all* lose points with int8 PTQ (not "always"), and ``percentile``
  is the best setting, at a gap of about 5 points.
- ``deepspark``: DeepSparkInference (github.com/Deep-Spark/DeepSparkInference),
  ``models/cv/classification/efficientnet_v2/ixrt/README.md``, "Model Results" (IxRT on MR-V100,
  IXUCA SDK 4.2.0, release 25.03): fp16 82.14 / 96.16, int8 81.50 / 95.96. Its int8 model comes from
  ``quant.py`` beside it: PPQ for the ``TRT_INT8`` platform (per-channel weights), ``hist_percentile``
  activation observer, no layer excluded. No fp32 figure is given there.
"""
from __future__ import annotations

MODEL = "efficientnetv2_rw_t"
DATASET = "ImageNet val (50,000 images), 288 px"

REFERENCE = {
    "vendor": {"label": "the vendor's model page", "short": "vendor page", "source": "docs/vendor-files.md, Reference numbers",
               "fp32": (82.344, 96.196), "fp16": (81.916, 95.93), "int8": (77.07, 94.372)},
    "deepspark": {"label": "DeepSparkInference (IxRT, published)", "short": "DeepSpark",
                  "source": "Deep-Spark/DeepSparkInference models/cv/classification/efficientnet_v2/ixrt/README.md",
                  "fp16": (82.14, 96.16), "int8": (81.50, 95.96)},
}
PRECISIONS = ("fp32", "fp16", "int8")

# The vendor page's two int8 notes ("appending"), translated (docs/vendor-files.md, "Reference numbers").
VENDOR_INT8_NOTE = ("with int8 PTQ the EfficientNetV2 models nearly all lose points (\u201c\u57fa\u672c\u90fd"
                    "\u4f1a\u6389\u70b9\u201d); percentile calibration works best, with a gap of about 5 points")


def rows() -> list:
    """One row per source and precision: ``{"source", "short", "precision", "top1", "top5"}``."""
    return [{"source": ref["label"], "short": ref["short"], "precision": p, "top1": ref[p][0], "top5": ref[p][1]}
            for ref in REFERENCE.values() for p in PRECISIONS if p in ref]


def lines() -> list:
    """The table as text, one line per source, labelled as not measured here."""
    out = []
    for ref in REFERENCE.values():
        figs = "  ".join(f"{p} {ref[p][0]:.2f} / {ref[p][1]:.2f}" for p in PRECISIONS if p in ref)
        out.append(f"{ref['label']:<38} {figs}   ({MODEL}, {DATASET}; reference, not measured here)")
    return out
