"""``python -m effv2nb demo``: the whole offline pipeline on the tiny model and the bundled digits.

The vendor's steps, each through the same command the CLI offers:
PyTorch reference -> ``export`` (ONNX + parity checks) -> ``compile`` (int8, the shipped
``data/configs/tiny_int8.yaml`` pointed at the fresh export) -> ``infer`` on the validation folder
with the device preprocessing (``tiny-vdsp_params.json``) -> ``eval-topk`` on the result file.
Last line, always: ``top1_rate: <x> top5_rate: <y>`` (percent, digits validation split, as compiled).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from effv2nb.formats import build_config as config
from effv2nb.ui.banner import show_once
from effv2nb.model.models import load
from effv2nb.model.predict import classify_folder
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR


def add_arguments(p):
    p.add_argument("--val-dir", default=str(DIGITS_DIR / "val"), help="validation image folder")
    p.add_argument("--weights", default="auto", help="weights for tiny (path, auto or random)")
    p.add_argument("--work-dir", default=None, help="keep the exported and compiled files here (default: temp)")


def _step(title, argv):
    from effv2nb.cli.main import main

    print(f"\n$ python -m effv2nb {' '.join(str(a) for a in argv)}   # {title}", flush=True)
    rc = main([str(a) for a in argv])
    if rc not in (0, None):
        from effv2nb.core.errors import Effv2nbError

        raise Effv2nbError(f"step '{title}' failed with exit status {rc}")


def run(args) -> int:
    model = load("tiny", weights=args.weights)
    show_once(model)
    top1, top5, n = classify_folder(model, args.val_dir, progress=False)
    print(f"[PyTorch fp32 reference] {n} validation images: top-1 {top1:.2f} %, top-5 {top5:.2f} %")
    with tempfile.TemporaryDirectory(prefix="effv2nb-demo-") as tmp:
        work = Path(args.work_dir or tmp).absolute()
        weights = [] if args.weights == "auto" else ["--weights", args.weights]
        _step("export to ONNX", ["export", "--model", "tiny", "--save-dir", work / "onnx", *weights])
        cfg, _ = config.load_build_config(DATA_DIR / "configs" / "tiny_int8.yaml")
        cfg.frontend.checkpoint = str(work / "onnx" / "tiny_64.onnx")
        cfg.workspace = str(work / "deploy_weights")
        build_yaml = config.save_build_config(cfg, work / "tiny_int8.yaml", backup=False)
        _step("compile int8", ["compile", build_yaml, "--force"])
        prefix = work / "deploy_weights" / cfg.name / "mod"
        labels = DIGITS_DIR / "labels.txt"
        _step("run on the (stand-in) device", [
            "infer", "--file-path", args.val_dir, "--model-prefix", prefix,
            "--vdsp-params", DATA_DIR / "configs" / "tiny-vdsp_params.json", "--label-txt", labels,
            "--save-dir", work / "runstream_output", "--save-result-txt", "result.txt", "--batch", "8",
            "--no-progress"])
        _step("score top-1 / top-5", ["eval-topk", work / "runstream_output" / "result.txt", "--label-txt", labels])
    return 0
