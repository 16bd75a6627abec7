"""``python -m effv2nb config check FILE`` / ``config vdsp --model NAME [--size N]``."""
from __future__ import annotations

import sys


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    c = sub.add_parser("check", help="validate a build YAML or a vdsp_params JSON (told apart by content)")
    c.add_argument("file")
    v = sub.add_parser("vdsp", help="print a vdsp_params JSON generated from a model's preprocessing")
    v.add_argument("--model", required=True)
    v.add_argument("--size", type=int, default=None)
    v.add_argument("--resize-type", default="BILINEAR_CV", choices=("BILINEAR_CV", "BILINEAR_PILLOW"))
    x = sub.add_parser("cross-check", help="where a build YAML and a vdsp JSON disagree")
    x.add_argument("build_yaml")
    x.add_argument("vdsp_json")


def check_file(path):
    """``(kind, errors, warnings)`` for a build YAML or a vdsp JSON.

    The same readers and validators as the commands that use the file (``compile``: build YAML;
    ``infer`` and friends: vdsp JSON), so ``check`` never passes what they refuse, nor the other way.
    A vdsp file is read as JSON (as the commands read it: ``NaN`` is a number to JSON, a string to YAML).
    """
    from effv2nb.formats import build_config as config, vdsp
    from effv2nb.core.errors import Effv2nbError
    from effv2nb.core.textio import read_text

    text = read_text(path, "build config")
    try:
        data = vdsp.parse_json(text, path)
    except Effv2nbError:
        data = None
    if not vdsp.looks_like_vdsp(data):
        data = config.parse_yaml(text, path)     # JSON is (nearly) YAML: content tells the two apart
        if vdsp.looks_like_vdsp(data):
            vdsp.parse_json(text, path)          # a vdsp file that is not valid JSON: JSON's own error
    if vdsp.looks_like_vdsp(data):
        errors, warnings = vdsp.validate_vdsp(data, path)
        return "vdsp_params JSON", errors, warnings
    errors, warnings = config.validate_build(data, path)
    return "build YAML", errors, warnings


def run(args) -> int:
    if args.action == "vdsp":
        from effv2nb.formats.vdsp import dumps_vdsp, generate_vdsp

        print(dumps_vdsp(generate_vdsp(args.model, size=args.size, resize_type=args.resize_type)))
        return 0
    if args.action == "cross-check":
        from effv2nb.formats.build_config import load_build_config
        from effv2nb.formats.cross_check import cross_check
        from effv2nb.formats.vdsp import load_vdsp

        cfg, _ = load_build_config(args.build_yaml)
        diffs = cross_check(cfg, load_vdsp(args.vdsp_json))
        for d in diffs:
            print(d)
        if not diffs:
            print("build config and vdsp file agree (input size, mean/std, resize/crop, colour order)")
        return 1 if diffs else 0
    kind, errors, warnings = check_file(args.file)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        return 2
    print(f"{args.file}: valid {kind}" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 0
