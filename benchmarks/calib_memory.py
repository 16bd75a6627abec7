"""Peak memory and wall time of an int8 (or fp16) compile of an rw model with many calibration images.

ORT's histogram calibrators keep every intermediate tensor of every calibration image in memory
(~66 MB per image for efficientnetv2_rw_t at 288). ``effv2nb.compile.build.quantize_int8`` calibrates
in chunks, so peak RSS stays flat in the number of images. Run it under GNU time:

    /usr/bin/time -v python benchmarks/calib_memory.py --images 500 --mode percentile

There are no ImageNet images offline: the calibration set is made of real photos shipped with
matplotlib (``grace_hopper.jpg``, ``Minduka_Present_Blue_Pack.png``), as random crops, flips,
scales and colour jitter, written as JPEG to ``WORKDIR/calib``. The model's weights are whatever
``effv2nb.model.models.load`` resolves (random offline unless ``EFFV2NB_WEIGHTS`` or the hub cache).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance


def make_photos(folder: Path, n: int, seed: int = 0) -> Path:
    import matplotlib.cbook as cbook

    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob("*.JPEG"))
    if len(have) >= n:
        return folder
    sources = []
    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"):
        with cbook.get_sample_data(name) as f:
            sources.append(Image.open(f).convert("RGB"))
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = sources[i % len(sources)]
        w, h = img.size
        s = rng.uniform(0.35, 1.0)
        cw, ch = int(w * s), int(h * s * rng.uniform(0.8, 1.2))
        ch = min(ch, h)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = img.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.6, 1.4))
        crop = ImageEnhance.Color(crop).enhance(rng.uniform(0.5, 1.5))
        crop = crop.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
        out = int(rng.integers(256, 480))
        crop = crop.resize((out, int(out * crop.size[1] / crop.size[0])), Image.BILINEAR)
        crop.save(folder / f"photo_{i:04d}.JPEG", quality=90)
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="efficientnetv2_rw_t")
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--dtype", default="int8", choices=("int8", "fp16"))
    p.add_argument("--mode", default="percentile", choices=("max", "percentile", "kl_divergence"))
    p.add_argument("--reduce-range", default=None, choices=("true", "false"))
    p.add_argument("--chunk", type=int, default=None, help="calibration images per chunk")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "effv2nb_bench"))
    args = p.parse_args(argv)

    from effv2nb.formats import build_config as config
    from effv2nb.model import models
    from effv2nb.compile.build import compile_config, read_manifest
    from effv2nb.export.onnx_export import condition_random_model, export_onnx

    work = Path(args.workdir)
    size = args.size or models.load(args.model, weights="random").effv2nb_info.input_size
    onnx_path = work / f"{args.model}_{size}.onnx"
    if not onnx_path.is_file():
        t = time.perf_counter()
        model = models.load(args.model)
        condition_random_model(model, size)     # random weights only: a well-conditioned random net
        export_onnx(model, onnx_path, size=size)
        print(f"exported {onnx_path} in {time.perf_counter() - t:.1f} s", flush=True)
    calib = make_photos(work / "calib", args.images) if args.dtype == "int8" else work / "calib"
    cfg = config.new_build_config(args.model, args.dtype, size=size, checkpoint=str(onnx_path),
                                  dataset_path=str(calib), suffix="JPEG", data_num=args.images,
                                  calibrate_mode=args.mode, workspace=str(work / "deploy_weights"),
                                  name=f"bench_{args.model}_{args.dtype}_{args.mode}_{args.images}")
    if args.reduce_range is not None:
        cfg.backend.quantize.reduce_range = args.reduce_range == "true"
    if args.chunk:
        cfg.backend.quantize.calib_chunk_size = args.chunk
    cfg_path = config.save_build_config(cfg, work / f"{cfg.name}.yaml", backup=False)
    t = time.perf_counter()
    mod = compile_config(cfg_path, force=True, progress=True)   # tqdm on stderr, also into a log file
    wall = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    man = read_manifest(mod)
    print(json.dumps({"model": args.model, "size": size, "dtype": args.dtype, "images": len(man["calibration_files"]),
                      "mode": args.mode, "quantize": man["quantize"], "compile_wall_s": round(wall, 1),
                      "peak_rss_mb": round(peak_mb), "check_vs_fp32": man["check_vs_fp32"],
                      "mod_onnx_mb": round(mod.stat().st_size / 1e6, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
