"""Notebook 02, ``python -m effv2nb export``: a model to ONNX, checked against PyTorch."""
