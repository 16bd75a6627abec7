"""ImageNet at scale: ``infer`` on an ImageNet-like folder against the model alone, memory, workers, kill-and-resume.

    python benchmarks/imagenet_scale.py [--images 5000] [--small 1000] [--size 288] [--work DIR]

Everything is measured in this one run, on the same machine, so the figures that matter are ratios:

1. The pipeline ``infer`` runs (``effv2nb.device.infer_file.infer_to_file``: streaming, async decode
   threads) at batch 1 and batch 8, against the model alone on the same preprocessed images
   (``effv2nb.device.infer.model_only``), in ``--rounds`` alternating rounds — model, pipeline on the
   next ``--round-images`` images, model — because the speed of a shared machine drifts by more than
   the effect measured: the median of the per-round ratios is the share of the model's rate the
   pipeline reaches. Then the command itself (a process, as a user runs it) on ``--small`` images,
   the rate it prints, and the model alone just after.
2. Peak RSS of ``infer`` (``wait4``'s ``ru_maxrss`` of that process alone) on ``--small`` and on
   ``--images`` images: flat memory means the two are within 10 %.
3. ``--cluster local:2`` against serial on ``--small`` images: images/s of each, same result file.
4. Kill and resume: ``infer`` is killed (SIGKILL) half way through ``--small`` images, then run again
   with ``--resume``; the time lost is (killed run + resumed run) - an uninterrupted run, and the
   final file must equal the uninterrupted one byte for byte.

The folder is ``effv2nb.data.imagenet_like`` (synset folders, ImageNet's sizes, photo-like JPEGs),
made once in ``--work`` (kept between runs). The model is timm's ``efficientnetv2_rw_t`` exported at
``--size`` with whatever weights ``effv2nb.model.models.load`` finds (random offline: speed does not
depend on the weights). Prints the CPU line first (``effv2nb.core.cpu.describe``).
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RATE_RE = re.compile(r"^(\d+) images in ([0-9.]+) s \(([0-9.]+) images/s", re.M)


def run_infer(argv, kill_at_bytes=None, partial=None):
    """Run ``python -m effv2nb infer ...`` -> (exit status, stdout, wall seconds, peak RSS in MB, killed)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "effv2nb", "infer", *map(str, argv), "--no-progress"], env=env,
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    killed = False
    if kill_at_bytes is not None:
        while p.poll() is None:
            if partial.is_file() and partial.stat().st_size >= kill_at_bytes:
                p.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.01)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    return os.waitstatus_to_exitcode(status), out, time.perf_counter() - t0, usage.ru_maxrss / 1024, killed


def rate_of(out: str) -> float:
    m = RATE_RE.search(out)
    if not m:
        raise SystemExit(f"no rate in infer's output:\n{out}")
    return float(m.group(3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--size", type=int, default=288)
    ap.add_argument("--model", default="efficientnetv2_rw_t")
    ap.add_argument("--work", default=str(REPO / "build" / "imagenet_scale"))
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds of model alone / pipeline")
    ap.add_argument("--round-images", type=int, default=160, help="images in each round's pipeline run")
    ap.add_argument("--only", choices=("ratio", "all"), default="all", help="ratio: step 1 alone")
    args = ap.parse_args()

    from effv2nb.core import cpu
    from effv2nb.data.datasets import list_images
    from effv2nb.data.imagenet_like import make_folder
    from effv2nb.device import infer, runtime
    from effv2nb.device.journal import partial_path
    from effv2nb.formats.vdsp import generate_vdsp, load_vdsp
    from effv2nb.model import models

    work = Path(args.work)
    print(cpu.describe())
    t = time.perf_counter()
    big = make_folder(work / f"imagenet_like_{args.images}", args.images, progress=True)
    small = work / f"imagenet_like_{args.small}"
    if not small.exists():          # the first --small images of the big folder, as links
        for p in list_images(big)[:args.small]:
            (small / p.parent.name).mkdir(parents=True, exist_ok=True)
            (small / p.parent.name / p.name).symlink_to(p)
    sizes = [p.stat().st_size for p in list_images(big)[:200]]
    print(f"folder: {args.images} JPEGs in {len(list(big.iterdir()))} synset folders "
          f"({sum(sizes) / len(sizes) / 1e3:.0f} KB each on average), ready in {time.perf_counter() - t:.0f} s")

    onnx = work / f"{args.model}_{args.size}.onnx"
    vdsp_path = work / f"{args.model}-vdsp_params.json"
    if not onnx.is_file():
        from effv2nb.export.onnx_export import export_onnx

        model = models.load(args.model)
        export_onnx(model, onnx, size=args.size)
        import json

        vdsp_path.write_text(json.dumps(generate_vdsp(model, args.size), indent=4))
    vdsp = load_vdsp(vdsp_path)
    base = ["--model-prefix", onnx.with_suffix(""), "--vdsp-params", vdsp_path]

    # 1. the pipeline vs the model alone, batch 1 and 8, in alternating rounds (the machine's speed drifts)
    from effv2nb.device.infer_file import infer_to_file

    runner = runtime.OrtRunner(onnx)
    sample = list_images(small)[:64]
    files = list_images(small)
    for batch in (1, 8):
        ratios = []
        for r in range(args.rounds):
            chunk = files[r * args.round_images:(r + 1) * args.round_images]
            m1 = infer.model_only(runner, sample, vdsp, batch=batch)
            _, st = infer_to_file(runner, chunk, vdsp, work / "out_rounds" / "result.txt", batch=batch,
                                  progress=False, log=lambda _line: None)
            m2 = infer.model_only(runner, sample, vdsp, batch=batch)
            ratios.append(st.images_per_s / ((m1 + m2) / 2))
        ratios.sort()
        print(f"batch {batch}: pipeline / model alone over {args.rounds} rounds of {args.round_images} images: "
              f"median {ratios[len(ratios) // 2]:.3f} (min {ratios[0]:.3f}, max {ratios[-1]:.3f})")
        rc, out, _, _, _ = run_infer(["--file-path", small, *base, "--save-dir", work / f"out_b{batch}",
                                      "--batch", batch, "--infer-mode", "async"])
        m = infer.model_only(runner, sample, vdsp, batch=batch)
        print(f"batch {batch}: the command on {args.small} images {rate_of(out):.2f} images/s, the model alone "
              f"just after {m:.2f} images/s ({rate_of(out) / m:.3f})")
    runner.close()
    if args.only == "ratio":
        return 0

    # 2. peak memory at two folder sizes (batch 8)
    rss, rates = {}, {}
    for n, folder in ((args.small, small), (args.images, big)):
        rc, out, wall, peak, _ = run_infer(["--file-path", folder, *base, "--save-dir", work / f"out_rss_{n}",
                                            "--batch", 8])
        rss[n], rates[n] = peak, rate_of(out)
        print(f"peak RSS, {n} images: {peak:.0f} MB ({rate_of(out):.2f} images/s serial, exit {rc})")
    print(f"peak RSS {args.images} / {args.small} images: {rss[args.images] / rss[args.small]:.3f}")

    # 3. two Dask workers against serial, batch 8
    serial_out = work / f"out_rss_{args.small}" / "result.txt"
    rc, out, wall, peak, _ = run_infer(["--file-path", small, *base, "--save-dir", work / "out_local2",
                                        "--batch", 8, "--cluster", "local:2"])
    same = (work / "out_local2" / "result.txt").read_bytes() == serial_out.read_bytes()
    print(f"--cluster local:2: {rate_of(out):.2f} images/s (serial {rates[args.small]:.2f}); "
          f"result file identical to serial: {same}")

    # 4. kill half way, then --resume
    target = work / "out_kill" / "result.txt"
    rc, out, t_full, _, _ = run_infer(["--file-path", small, *base, "--save-dir", target.parent, "--batch", 8])
    reference = target.read_bytes()
    rc, _, t_killed, _, killed = run_infer(["--file-path", small, *base, "--save-dir", target.parent, "--batch", 8],
                                           kill_at_bytes=len(reference) // 2, partial=partial_path(target))
    rc, out, t_resumed, _, _ = run_infer(["--file-path", small, *base, "--save-dir", target.parent, "--batch", 8,
                                          "--resume"])
    print(f"kill -9 at 50 % then --resume: {t_killed:.1f} s + {t_resumed:.1f} s vs {t_full:.1f} s uninterrupted "
          f"(wall, process start included): {t_killed + t_resumed - t_full:.1f} s lost; killed: {killed}, "
          f"final file identical: {target.read_bytes() == reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
