"""Calibration time and memory of the suite's recommended int8 recipe against NNCF, on an rw model.

    python benchmarks/calib_time.py [--model efficientnetv2_rw_t] [--size 288] [--images 50]

Each recipe quantizes the same exported fp32 model on the same calibration images, in a process of its
own (so peak RSS is that recipe's), then the result is scored on 16 held-out images against fp32 on the
exact QDQ path (the QDQ arithmetic as written) and on this CPU's kernels. Recipes:

- ``shipped percentile``: the shipped build YAML's settings (percentile, per-channel), as compile runs them;
- ``recommended``: the suite's all-int8 recipe (MinMax, per-channel, ``reduce_range: auto`` — one extra
  quantization only where this CPU saturates);
- ``nncf``: ``nncf.quantize`` with its defaults (``effv2nb.quant.nncf_ptq``).

Calibration images are the stand-in photos of ``benchmarks/calib_memory.py`` (no ImageNet offline);
weights are whatever ``effv2nb.model.models.load`` resolves (random offline: SQNR then measures the
quantizer on a conditioned random network, not ImageNet accuracy). Prints one line per recipe.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = """
import json, sys, time, numpy as np
from effv2nb.quant import eval_sets, int8_paths
from effv2nb.quant.int8_recipes import Recipe
recipe, fp32, calib_npy, out = sys.argv[1:5]
calib = list(np.load(calib_npy)[:, None])
t = time.perf_counter()
if recipe == "nncf":
    from effv2nb.quant import nncf_ptq
    nncf_ptq.quantize_nncf(fp32, out, calib)
elif recipe == "recommended":
    Recipe("recommended", "max", per_channel=True, reduce_range="auto", num_calib=len(calib)).quantize(fp32, out, calib)
else:
    Recipe("shipped", "percentile", per_channel=True, reduce_range=False, num_calib=len(calib)).quantize(fp32, out, calib)
import resource
print(json.dumps({"seconds": time.perf_counter() - t, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnetv2_rw_t")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()

    import numpy as np

    from calib_memory import make_photos
    from effv2nb.core import cpu
    from effv2nb.quant import int8_paths
    from effv2nb.model import models
    from effv2nb.device import preprocess
    from effv2nb.formats.vdsp import generate_vdsp
    from effv2nb.quant import eval_sets
    from effv2nb.data.datasets import list_images
    from effv2nb.export.onnx_export import condition_random_model, export_onnx

    work = Path(a.work or tempfile.mkdtemp(prefix="effv2nb-calib-time-"))
    model = models.load(a.model)
    size = a.size or models.info(model).input_size
    condition_random_model(model, size)
    fp32 = export_onnx(model, work / f"{a.model}_{size}.onnx", size=size)
    photos = list_images(make_photos(work / "photos", a.images + 16))
    vdsp = generate_vdsp(model, size)
    calib = np.concatenate(eval_sets.arrays_from_files(photos[: a.images], vdsp, size))
    held = np.concatenate(eval_sets.arrays_from_files(photos[a.images: a.images + 16], vdsp, size))
    np.save(work / "calib.npy", calib)
    ref = int8_paths.run(fp32, held)
    print(cpu.describe())
    for recipe in ("shipped percentile", "recommended", "nncf"):
        out = work / f"{recipe.split()[0]}.onnx"
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, recipe.split()[0], str(fp32), str(work / "calib.npy"),
                               str(out)], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode:
            print(f"recipe: {recipe} failed: {proc.stderr.strip()[-400:]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        secs, rss = res["seconds"], res["rss_kb"]
        s = int8_paths.summary(int8_paths.score(ref, out, held))
        print(f"recipe: {recipe} quantize_s: {secs:.1f} process_s: {wall:.1f} peak_rss_gb: "
              f"{rss / 1024 ** 2:.2f} exact_sqnr_db: {s['exact_sqnr_db']:.2f} "
              f"host_sqnr_db: {s['host_sqnr_db']:.2f} images: {len(calib)} model: {a.model}@{size}")


if __name__ == "__main__":
    main()
