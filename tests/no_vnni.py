"""Run Python on an emulated x86-64 CPU without VNNI (AVX2 only), to test what such hosts compute.

ONNX Runtime picks its int8 kernels from CPUID. ``qemu-x86_64 -cpu Haswell`` (Debian's ``qemu-user``,
installed by ``.ci/run``) answers CPUID as a Haswell: AVX2, no AVX-512, no VNNI — so the fused u8 x s8
kernels take the 16-bit pair-sum route whatever CPU runs the tests. qemu-user passes the real
``/proc/cpuinfo`` through, so ``effv2nb.cpu`` is told the emulated flags by ``EFFV2NB_CPU_FLAGS``.
About 70x slower than native: keep the work tiny.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

QEMU = shutil.which("qemu-x86_64")
HASWELL_FLAGS = "sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2 popcnt movbe"
REPO = Path(__file__).resolve().parent.parent


def require_qemu():
    """Skip without qemu-x86_64; under CI (which installs it) a missing emulator is a failure."""
    if QEMU is None:
        msg = "qemu-x86_64 not installed (apt-get install qemu-user) : the no-VNNI host is not emulated"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)


def run_python(args, env=None, timeout=900, cwd=None) -> subprocess.CompletedProcess:
    """``python ARGS`` on an emulated Haswell; returns the finished process (stdout/stderr as text)."""
    require_qemu()
    python = os.path.realpath(sys.executable)
    e = dict(os.environ)
    e.update({"EFFV2NB_CPU_FLAGS": HASWELL_FLAGS, "EFFV2NB_CPU_MODEL": "Intel Haswell (emulated by qemu)",
              "PYTHONPATH": os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep),
              "OMP_NUM_THREADS": "2"})
    e.update(env or {})
    proc = subprocess.run([QEMU, "-cpu", "Haswell", python, *args], env=e, cwd=cwd, timeout=timeout,
                          capture_output=True, text=True)
    # qemu warns once per CPUID feature TCG lacks (pcid, x2apic, ...): not the program's output
    proc.stderr = "\n".join(l for l in proc.stderr.splitlines() if "TCG doesn't support" not in l)
    return proc
