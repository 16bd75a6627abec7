"""Notebooks 00 and 06 (banner), ``compile`` and ``bench``: which device runs.

Which 'device' runs: the vendor's tools when installed, else ONNX Runtime as the stand-in."""
from __future__ import annotations

import importlib.util
import shutil


def vendor_tools() -> dict:
    """Which vendor tools are present here: ``vamc`` and ``vamp`` on PATH, ``vaststreamx`` importable."""
    return {
        "vamc": shutil.which("vamc") is not None,
        "vamp": shutil.which("vamp") is not None,
        "vaststreamx": importlib.util.find_spec("vaststreamx") is not None,
    }


def describe() -> str:
    """Two lines: which compiler and which runtime ("device") this run uses."""
    tools = vendor_tools()
    import onnxruntime as ort

    compiler = "vendor vamc" if tools["vamc"] else f"open stand-in (ONNX Runtime {ort.__version__} fp16/int8 quantization)"
    runtime = "vendor vaststreamx" if tools["vaststreamx"] else (
        f"ONNX Runtime {ort.__version__} stand-in device ({', '.join(ort.get_available_providers())})")
    missing = [k for k, v in tools.items() if not v]
    note = f" [not installed here: {', '.join(missing)}]" if missing else ""
    return f"compiler: {compiler}\ndevice:   {runtime}{note}"
