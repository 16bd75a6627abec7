"""Notebook 05, ``int8-report`` and the tests: the int8 study on an emulated CPU.

Run part of a study on an emulated x86-64 CPU without VNNI, whatever CPU this is.

Serves notebook 05 (the same ``mod.onnx`` on this CPU and on an AVX2-only one) and the tests.

ONNX Runtime picks its int8 kernels from CPUID. ``qemu-x86_64 -cpu Haswell`` (Debian's ``qemu-user``)
answers CPUID as a Haswell — AVX2, no AVX-512, no VNNI — so ONNX Runtime inside it takes the
16-bit pair-sum route of ``effv2nb.core.cpu``, exactly as on a real AVX2 machine (checked bit for bit
against ``effv2nb.quant.saturation``). qemu-user passes the real ``/proc/cpuinfo`` through, so the child is
told the emulated flags by ``EFFV2NB_CPU_FLAGS``. About 70 times slower than native: tiny work only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

QEMU_CPU = "Haswell"
HASWELL_FLAGS = "sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2 popcnt movbe"
HASWELL_MODEL = "Intel Haswell (emulated by qemu-x86_64)"
REPO = Path(__file__).resolve().parents[2]


def qemu() -> str | None:
    """The ``qemu-x86_64`` program, or None (``apt-get install qemu-user``; x86-64 hosts only)."""
    return shutil.which("qemu-x86_64")


def run_python(args, env=None, timeout: float = 900, cwd=None) -> subprocess.CompletedProcess:
    """``python ARGS`` on the emulated Haswell; the finished process, stdout and stderr as text."""
    exe = qemu()
    if exe is None:
        raise FileNotFoundError("qemu-x86_64 is not installed (apt-get install qemu-user)")
    e = dict(os.environ)
    e.update({"EFFV2NB_CPU_FLAGS": HASWELL_FLAGS, "EFFV2NB_CPU_MODEL": HASWELL_MODEL, "OMP_NUM_THREADS": "2",
              "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), e.get("PYTHONPATH", "")) if p)})
    e.update(env or {})
    proc = subprocess.run([exe, "-cpu", QEMU_CPU, os.path.realpath(sys.executable), *args], env=e, cwd=cwd,
                          timeout=timeout, capture_output=True, text=True)
    # qemu warns once per CPUID feature its emulator lacks (pcid, x2apic, ...): not the program's output
    proc.stderr = "\n".join(line for line in proc.stderr.splitlines() if "TCG doesn't support" not in line)
    return proc


_CHILD = """
import json, sys, numpy as np
from effv2nb.core import cpu
from effv2nb.quant import int8_paths, layer_error
fp32, q, tmp_x, tmp_out = sys.argv[1:5]
x = np.load(tmp_x)
ref = int8_paths.run(fp32, x)
s = int8_paths.summary(int8_paths.score(ref, q, x))
layers = [{k: r[k] for k in ("depth", "node", "kind", "sqnr_db")} for r in layer_error.layer_sqnr(fp32, q, x, "host")]
json.dump({"cpu": cpu.describe(), "score": s, "host_layers": layers}, open(tmp_out, "w"))
"""


def study_without_vnni(fp32_onnx, int8_onnx, x, timeout: float = 600) -> dict:
    """Exact and host SQNR of ``int8_onnx`` and its host per-layer SQNR, computed on the emulated CPU.

    Returns ``{"cpu": line, "score": int8_paths.summary, "host_layers": [...]}``.
    """
    with tempfile.TemporaryDirectory(prefix="effv2nb-emu-") as tmp:
        tmp_x, tmp_out = Path(tmp) / "x.npy", Path(tmp) / "out.json"
        np.save(tmp_x, np.ascontiguousarray(x, dtype=np.float32))
        proc = run_python(["-c", _CHILD, str(fp32_onnx), str(int8_onnx), str(tmp_x), str(tmp_out)], timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"emulated run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
        return json.loads(tmp_out.read_text())
