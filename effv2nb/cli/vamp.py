"""``python -m effv2nb vamp``: the vendor's ``vamp`` with its flags and meanings, step 5 (notebook 06; ``effv2nb.bench.vamp``).

``vamp -m PREFIX --vdsp_params JSON -i INSTANCES -p PROCESSES -b BATCH -s [3,H,W] [--iterations N]``
prints throughput and latency percentiles; with ``--datalist DATALIST --path_output DIR`` it writes one
``output_<line>.npz`` per datalist line (the npz path's second step), which ``npz-decode`` reads.
With the vendor's ``vamp`` on ``PATH`` (and ``--backend`` left at ``ort``) the line is handed to it as written.
"""
from __future__ import annotations

import shutil
import subprocess
import sys

from effv2nb.cli.vendor_flags import DeviceAction
from effv2nb.core import settings
from effv2nb.core.errors import Effv2nbError


def add_arguments(p):
    p.add_argument("-m", "--model-prefix", "--model_prefix", dest="model_prefix", required=True,
                   help="compiled model prefix (<workspace>/<name>/mod)")
    p.add_argument("--vdsp_params", "--vdsp-params", dest="vdsp_params", default=None,
                   help="vdsp JSON: the device preprocessing (timed with each batch; applied to --datalist images)")
    p.add_argument("-i", "--instance", "--instances", dest="instance", type=int, default=1, help="model instances")
    p.add_argument("-p", "--processes", dest="processes", type=int, default=1, help="processes")
    p.add_argument("-b", "--batch_size", "--batch-size", dest="batch_size", type=int, default=1, help="batch size")
    p.add_argument("-s", "--shape", dest="shape", default=None,
                   help="input shape [C,H,W] (default: the compiled model's)")
    p.add_argument("--iterations", type=int, default=None,
                   help=f"batches per instance (default {settings.sized(10, 2)})")
    p.add_argument("-d", "--device", "--device-id", dest="device_id", type=int, default=0, action=DeviceAction,
                   help="device id (ignored by the ONNX Runtime stand-in)")
    p.add_argument("--datalist", default=None, help="datalist of input npz files (image2npz writes it)")
    p.add_argument("--path_output", "--path-output", dest="path_output", default=None,
                   help="with --datalist: folder for the output npz files")
    p.add_argument("--backend", default="ort", choices=("ort", "vsx"), help="stand-in runtime (default ort)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads per process (default: cores / (i*p))")


def _vendor_vamp(args):
    exe = shutil.which("vamp")
    if not exe or args.backend != "ort":
        return None
    argv = list(args._argv)
    rest = argv[argv.index("vamp") + 1:] if "vamp" in argv else argv
    print(f"running the vendor's vamp: {exe} {' '.join(rest)}", flush=True)
    return subprocess.call([exe, *rest])


def run(args) -> int:
    from effv2nb.bench import vamp

    rc = _vendor_vamp(args) if hasattr(args, "_argv") else None
    if rc is not None:
        return rc
    for flag, v in (("--instance", args.instance), ("--processes", args.processes),
                    ("--batch_size", args.batch_size), ("--iterations", args.iterations)):
        if v is not None and v < 1:
            raise Effv2nbError(f"must be at least 1, got {v}", where=flag)
    if bool(args.datalist) != bool(args.path_output):
        raise Effv2nbError("--datalist and --path_output go together (inputs and the folder for the outputs)",
                           where="--datalist" if args.datalist else "--path_output")
    shape = vamp.parse_shape(args.shape, "--shape") if args.shape else None
    plan = vamp.Plan(prefix=args.model_prefix, vdsp_path=args.vdsp_params, instances=args.instance,
                     processes=args.processes, batch=args.batch_size,
                     iterations=args.iterations or settings.sized(10, 2), shape=shape,
                     threads=args.threads or vamp.default_threads(args.instance, args.processes),
                     backend=args.backend, device_id=args.device_id, datalist=args.datalist,
                     path_output=args.path_output)
    runner = vamp.open_model(plan)              # here first: a bad model or vdsp file fails before any process starts
    try:
        model_size = runner.input_size
        run_shape, note = _check(args, runner, shape)
        if note:
            print(f"note: {note}", file=sys.stderr)
        t = vamp.run(plan, runner if plan.processes <= 1 else None)
        describe = runner.describe()
    finally:
        runner.close()
    print(f"config: instances {plan.instances}, processes {plan.processes}, batch {plan.batch}, "
          + (f"datalist {args.datalist} ({t.images} images)" if args.datalist else f"iterations {plan.iterations}")
          + f", shape {list(run_shape) if run_shape else 'as the images'}, threads/process {plan.threads}"
          + (f", host vdsp preprocessing {args.vdsp_params}" if args.vdsp_params else ""))
    print(f"model: {describe}" + (" + host vdsp preprocessing" if args.vdsp_params and not args.datalist else ""))
    print(f"throughput: {t.throughput:.2f} images/s")
    print(f"latency per batch (ms): p50 {t.pct(50):.2f} p90 {t.pct(90):.2f} p99 {t.pct(99):.2f}")
    if args.datalist:
        print(f"wrote {t.images} output npz files to {args.path_output} (npz-decode reads them)")
    return 0


def _check(args, runner, shape):
    """Every input checked before the timing starts; ``(shape that runs, note about -s or None)``."""
    from effv2nb.bench import vamp
    from effv2nb.formats.vdsp import load_vdsp, resolve

    model_size = runner.input_size
    vdsp = load_vdsp(args.vdsp_params) if args.vdsp_params else None
    if not args.datalist:
        if vdsp is not None:
            resolve(vdsp, model_size)
        run_shape, _, note = vamp.shape_plan(shape, model_size, vdsp is not None, "-s")
        return run_shape, note
    from effv2nb.core import atomic
    from effv2nb.device.infer import check_sizes
    from effv2nb.device.npz import read_datalist

    if vdsp is None and runner.host_preprocess:
        raise Effv2nbError("needs --vdsp_params: the datalist holds raw images, the vdsp params make the model's "
                           "input of them", where="--datalist")
    if vdsp is not None and runner.host_preprocess:
        check_sizes(runner, vdsp, args.vdsp_params)
    read_datalist(args.datalist)
    atomic.check_writable(args.path_output, "--path-output")
    if not model_size:
        return None, None
    have = f"[3,{model_size[0]},{model_size[1]}]"
    note = None
    if shape and shape != (3, *model_size):
        note = (f"-s {args.shape} is not the compiled model's input {have}: the datalist's images go through the "
                f"vdsp preprocessing to {have}, which is what runs (a compiled model takes only its compiled shape)")
    return (3, *model_size), note
