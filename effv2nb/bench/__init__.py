"""Notebook 06, ``python -m effv2nb bench``: speed like the vendor's vamp, and precision/runtime comparisons."""
