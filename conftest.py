"""pytest-wide settings: CI-sized runs and no network, for tests and for the notebook kernels."""
import os

# Set before anything starts a kernel: nbval's kernels inherit this environment.
os.environ.setdefault("EFFV2NB_QUICK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
