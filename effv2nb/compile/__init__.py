"""Notebook 03, ``python -m effv2nb compile``: a build YAML to a compiled model (vamc, else ONNX Runtime)."""
