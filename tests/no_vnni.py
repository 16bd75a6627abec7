"""The tests' door to ``effv2nb.quant.emulated_cpu``: skip without qemu, except under CI, which installs it."""
from __future__ import annotations

import os

import pytest

from effv2nb.quant import emulated_cpu


def require_qemu():
    """Skip without qemu-x86_64; under CI (``.ci/install-emulator`` installs it) a missing emulator fails."""
    if emulated_cpu.qemu() is None:
        msg = "qemu-x86_64 not installed (apt-get install qemu-user): the no-VNNI host is not emulated"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)


def run_python(args, env=None, timeout=900, cwd=None):
    """``python ARGS`` on an emulated Haswell (AVX2, no VNNI); see ``effv2nb.quant.emulated_cpu.run_python``."""
    require_qemu()
    return emulated_cpu.run_python(args, env=env, timeout=timeout, cwd=cwd)
