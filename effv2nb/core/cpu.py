"""Notebooks 05-06, ``compile`` (int8), ``int8-report`` and ``bench``: the host CPU's int8 facts.

The host CPU's int8 facts, printed next to every figure that depends on them.

Notebook 05 (why int8 differs between machines), notebook 06 and ``bench``, ``compile``'s int8
check and ``int8-report`` all print :func:`describe` beside a host-kernel figure.

ONNX Runtime's fused u8 x s8 kernels on x86 take one of two routes:

- **with VNNI** (``avx512_vnni`` or ``avx_vnni``): ``vpdpbusd`` multiplies u8 by s8 and adds four
  products straight into 32-bit sums — the integer result is exact, the same as the exact QDQ path's;
- **without VNNI** (AVX2 alone, or AVX-512 before VNNI): ``vpmaddubsw`` adds each *pair* of u8 x s8
  products into a **16-bit** sum that saturates at +-32767 before it is widened. With 8-bit weights a
  pair can reach 2 x 255 x 127 = 64770, so large activations meet large weights and the sum is cut.
  7-bit weights (``reduce_range``: 2 x 255 x 64 = 32640) cannot saturate.

The exact QDQ arithmetic (``effv2nb.quant.int8_paths``) is the same on every CPU; only the host route
differs. That the accelerator computes the exact path is the suite's assumption — what an integer
accelerator that adds in 32 bits would compute; the vendor does not document its int8 arithmetic
(:data:`effv2nb.quant.int8_paths.EXACT_ASSUMPTION`).
"""
from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

VNNI_FLAGS = ("avx512_vnni", "avx_vnni")
# An emulated CPU (``qemu-x86_64 -cpu Haswell``, see tests/no_vnni.py) answers CPUID as that CPU, but
# qemu-user passes the real /proc/cpuinfo through: the emulator's caller names the flags here.
FLAGS_ENV, MODEL_ENV = "EFFV2NB_CPU_FLAGS", "EFFV2NB_CPU_MODEL"


@functools.lru_cache(maxsize=1)
def _proc_cpuinfo() -> tuple:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "", frozenset()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, frozenset(flags)


def facts(flags=None, model: str | None = None, machine: str | None = None) -> dict:
    """The CPU facts int8 results depend on. ``flags``/``model``/``machine`` override what is read
    from ``/proc/cpuinfo`` (tests, and recorded cases from other machines)."""
    read_model, read_flags = _proc_cpuinfo()
    if flags is None and os.environ.get(FLAGS_ENV):
        read_flags = frozenset(os.environ[FLAGS_ENV].split())
        read_model = os.environ.get(MODEL_ENV, "emulated CPU")
    flags = frozenset(read_flags if flags is None else flags)
    machine = (machine or platform.machine() or "").lower()
    x86 = machine in ("x86_64", "amd64", "i686", "i386")
    return {
        "model": model if model is not None else (read_model or platform.processor() or "unknown CPU"),
        "machine": machine,
        "x86": x86,
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "vnni": any(f in flags for f in VNNI_FLAGS),
    }


def u8s8_saturates(f: dict | None = None) -> bool:
    """True where ONNX Runtime's fused u8 x s8 kernels add products in 16-bit pairs (x86 without VNNI)."""
    f = f or facts()
    return bool(f["x86"] and not f["vnni"])


def kind(f: dict | None = None) -> str:
    """``"vnni"``, ``"avx2-no-vnni"`` or ``"other"`` (not x86: the host route is not modelled here)."""
    f = f or facts()
    if not f["x86"]:
        return "other"
    return "vnni" if f["vnni"] else "avx2-no-vnni"


def describe(f: dict | None = None) -> str:
    """One line: the CPU, its int8 flags and what they mean for ONNX Runtime's int8 kernels."""
    f = f or facts()
    yn = {True: "yes", False: "no"}
    if not f["x86"]:
        route = "host int8 kernels: not x86, compare exact and host figures directly"
    elif f["vnni"]:
        route = "host u8xs8 kernels add in 32 bits (no saturation: they match the exact QDQ path)"
    else:
        route = "host u8xs8 kernels add pairs in 16 bits (can saturate with 8-bit weights)"
    return (f"CPU: {f['model']} ({f['machine']}); AVX2 {yn[f['avx2']]}, AVX-512 {yn[f['avx512']]}, "
            f"VNNI {yn[f['vnni']]} -> {route}")
