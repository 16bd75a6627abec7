"""The suite's int8 recipes chosen and scored on an emulated AVX2 CPU without VNNI (qemu-x86_64 -cpu Haswell).

    python benchmarks/int8_on_emulated_avx2.py [--quick]

Runs int8-report's own steps (prepare, choose best_int8 and best on the selection fold, score on the
test fold) inside the emulator, so reduce_range auto, the greedy fallback and the host figures all
see the saturating 16-bit pair sums of a CPU without VNNI. NNCF is left out: its numpy calls crash
qemu's emulator (SIGSEGV inside NNCF's fake-quantize parameters). Tiny only: the emulator is ~70x
slower. Prints the same lines as `python -m effv2nb int8-report`.
"""
import argparse
import sys

from effv2nb.quant import emulated_cpu

CHILD = """
import sys
from effv2nb.quant import int8_report as rep
quick = sys.argv[1] == "1"
st = rep.prepare("tiny", quick=quick, log=lambda _l: None)
rep.choose_best_int8(st, log=print)
rep.choose_best(st, progress=False)
r = rep.score(st)
print("\\n".join(r.lines()))
print("best kept in float:", ", ".join(st.choices["best"]["kept_float"]) or "none")
"""

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized counts (EFFV2NB_QUICK=1)")
    a = ap.parse_args()
    proc = emulated_cpu.run_python(["-c", CHILD, "1" if a.quick else "0"],
                                   env={"EFFV2NB_QUICK": "1" if a.quick else "0"}, timeout=36000)
    print(proc.stdout, end="")
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
    sys.exit(proc.returncode)
