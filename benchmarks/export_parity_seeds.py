"""Export parity of plain random weights over many seeds: does the derived limit hold 10 of 10 times?

    python benchmarks/export_parity_seeds.py [--model efficientnetv2_rw_t] [--sizes 128,288] [--seeds 10]

What ``python -m effv2nb export`` does without a weights file, once per seed: the model's random
initialisation drawn from the seed (``models.load(..., weights="random", seed=s)``), BatchNorm statistics
re-estimated on noise (``condition_random_model``), export, then ``check_export`` on 8 seeded noise
images. One line per run: ORT-vs-PyTorch rel. L2, the graph's fp32 noise floor (PyTorch fp32 vs
float64), their ratio, the derived limit (``FLOOR_FACTOR`` x floor) and the verdict; then the worst
ratio per size and how many runs passed. Takes about a minute per run at 288 px on 2 cores.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    import torch

    from effv2nb.export.onnx_export import FLOOR_FACTOR, check_export, condition_random_model, export_onnx
    from effv2nb.model import models

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnetv2_rw_t")
    ap.add_argument("--sizes", default="128,288")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            ratios = []
            for seed in range(args.seeds):
                model = models.load(args.model, weights="random", seed=seed)
                condition_random_model(model, size, seed=seed)
                path = export_onnx(model, Path(tmp) / f"{args.model}_{size}_{seed}.onnx", size=size)
                r = check_export(model, path, n=8, seed=seed)
                ratios.append(r["rel_l2"] / r["noise_floor"])
                failed += not r["ok"]
                print(f"{args.model} {size} px seed {seed}: rel L2 {r['rel_l2']:.2e}  noise floor {r['noise_floor']:.2e}  "
                      f"ratio {ratios[-1]:.2f}  limit {r['limit']:.2e}  top-1 agreement {r['top1_agreement']:.0%}  "
                      f"{'OK' if r['ok'] else 'FAILED'}", flush=True)
            print(f"{size} px: worst ratio {max(ratios):.2f} (limit at {FLOOR_FACTOR:g}); "
                  f"{sum(x <= FLOOR_FACTOR for x in ratios)} of {len(ratios)} within", flush=True)
    print(f"failed runs: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
