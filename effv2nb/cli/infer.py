"""``python -m effv2nb infer``: the vendor's step 4 on a file or a folder, as notebook 04 runs it (``effv2nb.device.infer``)."""
from __future__ import annotations

import sys
from pathlib import Path

from effv2nb.cli.vendor_flags import DeviceAction
from effv2nb.core import atomic
from effv2nb.core.errors import Effv2nbError
from effv2nb.device import runtime
from effv2nb.cluster import connect
from effv2nb.device.infer import MODES, check_sizes, list_sources
from effv2nb.device.infer_file import infer_to_file
from effv2nb.formats.vdsp import load_vdsp, resolve


def add_arguments(parser):
    parser.add_argument("--file-path", "--file_path", dest="file_path", required=True,
                        help="an image, or a folder DIR/<class folder>/<image>")
    parser.add_argument("--model-prefix", "--model_prefix_path", dest="model_prefix", required=True,
                        help="<workspace>/<name>/mod as compile writes it (ort runs PREFIX.onnx); "
                             "torch:<model name>[@weights] for --backend torch")
    parser.add_argument("--vdsp-params", "--vdsp_params_info", dest="vdsp_params", required=True,
                        help="device preprocessing JSON (vdsp_params)")
    parser.add_argument("--label-txt", "--label_txt", dest="label_txt", default=None,
                        help="class names, one per line in index order")
    parser.add_argument("--save-dir", "--save_dir", dest="save_dir", default="./output",
                        help="folder for the result file")
    parser.add_argument("--save-result-txt", "--save_result_txt", dest="save_result_txt", default="result.txt",
                        help="result file name inside --save-dir")
    parser.add_argument("--infer-mode", "--infer_mode", dest="infer_mode", choices=MODES, default="async")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--backend", choices=runtime.BACKENDS, default="ort")
    parser.add_argument("--device-id", "--device", type=int, default=0, dest="device_id", action=DeviceAction,
                        help="device id (vsx backend; ignored by the ONNX Runtime stand-in)")
    parser.add_argument("--workers", type=int, default=None, help="decode threads in async mode")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--resume", action="store_true",
                        help="go on from where an interrupted run with the same arguments stopped")
    parser.add_argument("--cluster", default=None,
                        help="local:N (a Dask LocalCluster of N workers) or tcp://HOST:PORT (a running Dask "
                             "scheduler); default $EFFV2NB_CLUSTER, else serial in this process")


def run(args) -> int:
    vdsp = load_vdsp(args.vdsp_params)
    resolve(vdsp, 1)  # validate what the host needs now, before any model loads
    save_dir = Path(args.save_dir)
    if save_dir.exists() and not save_dir.is_dir():
        raise Effv2nbError("not a folder", save_dir, "--save-dir")
    if Path(args.save_result_txt).name != args.save_result_txt:
        raise Effv2nbError("must be a file name, not a path", args.save_result_txt, "--save-result-txt")
    atomic.check_writable(save_dir, "--save-dir")     # before the work, not after it
    if args.label_txt:
        from effv2nb.data.labels import from_txt

        from_txt(args.label_txt)                        # a label file that cannot be read fails now too
    list_sources(args.file_path)                        # no such folder, or no image in it: fails now
    spec = connect.spec_from(args.cluster)
    cluster = connect.open_cluster(spec) if spec else None   # an unreachable scheduler: one line, nothing written
    try:
        runner = runtime.open_runner(args.backend, args.model_prefix, args.vdsp_params, args.device_id, args.batch)
        try:
            check_sizes(runner, vdsp, args.vdsp_params)
            if cluster is not None:
                print(cluster.describe())
                if cluster.dashboard:
                    print(f"dashboard: {cluster.dashboard}")
            out, stats = infer_to_file(runner, args.file_path, vdsp, save_dir / args.save_result_txt, args.batch,
                                       args.infer_mode, args.workers, cluster, args.resume, args.label_txt,
                                       args.model_prefix, args.vdsp_params, args.backend,
                                       progress=not args.no_progress)
        finally:
            runner.close()
    finally:
        if cluster is not None:
            cluster.close()
    if Path(args.file_path).is_file() and stats.first is not None:
        p = stats.first
        for k, (i, pr) in enumerate(zip(p.ids, p.probs)):
            print(f"top-{k}: {stats.labels.name(i)} (id {i}) {pr:.4f}")
    print(f"device: {runner.describe()}" + (f", on {spec}" if cluster is not None else ""))
    print(f"wrote {out}")
    print(summary(stats, args.infer_mode if cluster is None else spec, args.batch))
    if stats.failed:
        print(f"skipped {len(stats.failed)} image(s):", file=sys.stderr)
        for p, reason in stats.failed:
            print(f"  {p}: {reason}", file=sys.stderr)
        return 1
    return 0


def summary(stats, mode: str, batch: int) -> str:
    s = (f"{stats.images} images in {stats.seconds:.2f} s ({stats.images_per_s:.1f} images/s, {mode}, batch {batch})")
    if stats.resumed:
        s += f"; {stats.resumed} done by the interrupted run"
    if stats.failed:
        s += f"; {len(stats.failed)} skipped"
    return s
