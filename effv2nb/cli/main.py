"""``python -m effv2nb <command>``: the vendor's command-line steps, on the suite's code.

Each command lives in its own module, which defines ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so the CLI starts fast.
Any ``Effv2nbError`` becomes one line on stderr and exit status 2 — never a traceback; a flag it names
is spelled as the user wrote it (the vendor's ``--file_path`` or the suite's ``--file-path``,
``effv2nb.cli.vendor_flags``), and so are argparse's own errors, one line each. So does an
``OSError`` that reaches this far (a file system refusing something no command expected): the file
it names and the cause (``effv2nb.core.atomic.os_error``).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from effv2nb.cli.vendor_flags import OneLineParser, as_written
from effv2nb.core.errors import Effv2nbError

# command name -> (module, one-line help)
COMMANDS = {
    "demo": ("effv2nb.cli.demo", "run the offline pipeline on the tiny model and the bundled digits"),
    "train-tiny": ("effv2nb.cli.train_tiny", "train the tiny EfficientNetV2 on scikit-learn digits"),
    "export": ("effv2nb.cli.export", "export a model to ONNX and check it against PyTorch"),
    "config": ("effv2nb.cli.config", "check a build YAML / vdsp JSON, or generate a vdsp JSON"),
    "compile": ("effv2nb.cli.compile", "compile a build YAML (vamc if installed, else ONNX Runtime)"),
    "complexity": ("effv2nb.cli.complexity", "count parameters, MACs and FLOPs of a model at an input size"),
    "infer": ("effv2nb.cli.infer", "run a compiled model on an image or a folder, write the result file (step 4)"),
    "eval-topk": ("effv2nb.cli.eval_topk", "top-1/top-5 of a result file, matched by class index"),
    "image2npz": ("effv2nb.cli.image2npz", "images to uint8 CHW npz files + datalist for vamp (step 5)"),
    "npz-decode": ("effv2nb.cli.npz_decode", "vamp output npz files + datalist to a result file (step 5)"),
    "int8-report": ("effv2nb.cli.int8_report", "stock, NNCF and the suite's int8 recipes side by side on a test fold"),
    "vamp": ("effv2nb.cli.vamp", "the vendor's vamp: -i instances, -p processes, -b batch; --datalist writes output npz (step 5)"),
    "bench": ("effv2nb.cli.bench", "the suite's speed comparisons: precisions and runtimes interleaved (--compare)"),
}


def build_parser(argv_command: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m effv2nb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == argv_command:  # import only the module of the command being run
            importlib.import_module(module).add_arguments(p)
            p.set_defaults(_module=module, _parser=p)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    OneLineParser.argv = argv          # argparse's errors name a flag as the user spelled it
    args = parser.parse_args(argv)
    args._argv = argv
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except Effv2nbError as exc:
        print(f"error: {as_written(args._parser, argv, exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        from effv2nb.core.atomic import os_error

        print(f"error: {os_error(exc, action='read or write')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
