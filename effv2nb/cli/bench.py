"""``python -m effv2nb bench``: notebook 06's measurements from the command line (the suite's own comparisons).

``bench --compare --model NAME --size N`` compares precisions and runtimes interleaved
(``effv2nb.bench.variants``); ``bench --model-prefix PREFIX --iterations N --instances P --batch B --shape
3,H,W`` times one compiled model (``effv2nb.bench.timing.vamp_run``). The vendor's ``vamp`` flags are
``python -m effv2nb vamp``'s: bench's former ``-i`` (iterations) and ``-p`` (instances) meant something
else there, so they are refused in one line that says so, not silently re-read.
"""
from __future__ import annotations

import argparse
import os
import sys

from effv2nb.bench.timing import vamp_run
from effv2nb.bench.vamp import WithHostPreprocess, parse_shape
from effv2nb.bench.variants import compare_variants, format_compare, target_line
from effv2nb.core.errors import Effv2nbError
from effv2nb.formats.vdsp import load_vdsp


def add_arguments(p):
    p.add_argument("--model-prefix", help="compiled model prefix (<workspace>/<name>/mod)")
    p.add_argument("--vdsp-params", help="vdsp JSON: host preprocessing is timed with each batch")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("-i", "-p", dest="vamp_short", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--batch", "-b", type=int, default=1)
    p.add_argument("--shape", "-s", default=None, help="C,H,W (default: the model's input)")
    p.add_argument("--backend", default="ort", choices=("ort", "torch", "vsx"))
    p.add_argument("--threads", type=int, default=None, help="intra-op threads per instance")
    p.add_argument("--compare", action="store_true", help="interleaved comparison of precisions and runtimes")
    p.add_argument("--model", default="tiny", help="with --compare: model name")
    p.add_argument("--size", type=int, default=None, help="with --compare: input size")
    p.add_argument("--weights", default="auto")
    p.add_argument("--calib-dir", default=None, help="with --compare: calibration images for int8")
    p.add_argument("--val-dir", default=None, help="with --compare: images to verify the best int8 recipe on")
    p.add_argument("--quick", action="store_true", help="with --compare: a short run (proves it works)")


def run(args) -> int:
    if args.vamp_short:
        raise Effv2nbError("bench has no -i / -p: the vendor's -i (instances) and -p (processes) are "
                           "'python -m effv2nb vamp'; here they are spelled --iterations and --instances",
                           where="-i/-p")
    if args.compare:
        res = compare_variants(args.model, args.size, quick=args.quick, threads=args.threads or 2,
                               weights=args.weights, calib_dir=args.calib_dir, eval_dir=args.val_dir,
                               log=lambda line: print(line, file=sys.stderr, flush=True),
                               knobs=["--size N", "--quick"])
        print(format_compare(res))
        print(target_line(res))
        return 0
    if not args.model_prefix:
        raise Effv2nbError("--model-prefix is required (or use --compare)", where="--model-prefix")
    for name, v in (("--iterations", args.iterations), ("--instances", args.instances), ("--batch", args.batch)):
        if v < 1:
            raise Effv2nbError(f"{name} must be at least 1", where=name)
    from effv2nb.device import runtime

    threads = args.threads or max(1, (os.cpu_count() or 2) // args.instances)
    runners = [runtime.open_runner(args.backend, args.model_prefix, vdsp_path=args.vdsp_params, threads=threads)
               for _ in range(args.instances)]
    shape = parse_shape(args.shape, "--shape") if args.shape else (3, *(runners[0].input_size or (224, 224)))
    if args.vdsp_params:
        vdsp = load_vdsp(args.vdsp_params)
        frame = (3, int(shape[1] * 1.5), int(shape[2] * 1.5))
        runners = [WithHostPreprocess(r, vdsp, frame, shape[1]) for r in runners]
    t = vamp_run(runners, args.batch, args.iterations, shape)
    print(f"config: backend {args.backend}, instances {args.instances}, batch {args.batch}, iterations "
          f"{args.iterations}, shape {list(shape)}, threads/instance {threads}"
          + (f", host vdsp preprocessing {args.vdsp_params}" if args.vdsp_params else ""))
    print(f"model: {runners[0].describe()}")
    print(f"throughput: {t.throughput:.2f} images/s")
    print(f"latency per batch (ms): p50 {t.pct(50):.2f} p90 {t.pct(90):.2f} p99 {t.pct(99):.2f}")
    return 0
