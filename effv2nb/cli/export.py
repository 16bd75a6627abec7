"""``python -m effv2nb export``: a model to ``DIR/NAME_N.onnx``, then the parity checks (notebook 02).

The vendor's step 1 spellings are accepted beside the suite's: ``--model_name``, ``--save_dir``,
``--pretrained_weights``, ``--model_library timm`` (only timm's EfficientNetV2 is in scope: any other
library is refused in one line).
"""
from __future__ import annotations

from pathlib import Path


def add_arguments(p):
    p.add_argument("--model", "--model_name", dest="model", required=True,
                   help="efficientnetv2_rw_t|_s|_m or tiny")
    p.add_argument("--model-library", "--model_library", dest="model_library", default="timm",
                   help="the vendor's flag: timm (the only library in scope)")
    p.add_argument("--size", type=int, default=None, help="input size (default: the model's own)")
    p.add_argument("--weights", "--pretrained_weights", dest="weights", default="auto",
                   help="weights file (.pth/.pt/.safetensors); default: auto")
    p.add_argument("--save-dir", "--save_dir", dest="save_dir", default=".", help="output folder (default: current)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("-n", type=int, default=8, help="inputs for the ORT vs PyTorch check (>= 8)")


def run(args) -> int:
    from effv2nb.model import models
    from effv2nb.ui.banner import show_once
    from effv2nb.export.onnx_export import check_export, condition_random_model, export_onnx, format_check

    if args.model_library != "timm":
        from effv2nb.core.errors import Effv2nbError

        raise Effv2nbError(f"'{args.model_library}' is not in scope: only timm's EfficientNetV2 models are "
                           "(efficientnetv2_rw_t|_s|_m, tiny)", where="--model-library")
    model = models.load(args.model, weights=args.weights)
    show_once(model)
    size = args.size or models.info(model).input_size
    if condition_random_model(model, size):
        print("note: random weights; BatchNorm statistics re-estimated on noise so that the parity check "
              "tests the exporter, not the random draw (see effv2nb.export.onnx_export.condition_random_model)")
    path = Path(args.save_dir) / f"{args.model}_{size}.onnx"
    export_onnx(model, path, size=size, opset=args.opset)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    result = check_export(model, path, n=max(8, args.n))
    print(format_check(result))
    return 0 if result["ok"] else 1
