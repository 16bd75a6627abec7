"""``python -m effv2nb compile CONFIG.yaml [--force] [--no-progress]``: vamc if present, else the open stack."""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("config", help="build YAML (the vamc compile format)")
    p.add_argument("--force", action="store_true", help="recompile even when nothing changed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (int8 calibration)")


def run(args) -> int:
    from effv2nb.compile.build import compile_config

    path = compile_config(args.config, force=args.force, progress=not args.no_progress)
    print(f"model prefix: {path.with_suffix('') if path.suffix == '.onnx' else path}")
    return 0
