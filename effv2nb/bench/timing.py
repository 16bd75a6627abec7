"""Speed, like the vendor's ``vamp``: notebook 06, ``python -m effv2nb bench``.

``vamp_run``: P parallel instances (one session each, in threads), batch B, N iterations each after
warm-up; throughput and per-batch latency percentiles. ``interleaved`` / ``round_ratios`` /
``ratio_summary``: timings taken round-robin so a drifting machine hurts all alike, reported as
ratios. ``op_time_profile``: ORT's profiler summed by op type. No test asserts a speed.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- measurement core
@dataclass
class Timing:
    """Per-batch latencies (seconds) of one measured configuration."""

    name: str
    batch: int
    latencies: list = field(default_factory=list)
    wall: float = 0.0
    images: int = 0

    @property
    def throughput(self) -> float:
        return self.images / self.wall if self.wall > 0 else float("nan")

    def pct(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.latencies) * 1e3, q)) if self.latencies else float("nan")


def vamp_run(runners, batch: int, iterations: int, shape, warmup: int = 2, seed: int = 0) -> Timing:
    """``len(runners)`` instances in parallel threads, each ``iterations`` batches of ``batch``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    for r in runners:
        for _ in range(warmup):
            r.run(x)
    t = Timing("vamp", batch)

    def worker(r):
        lat = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            r.run(x)
            lat.append(time.perf_counter() - t0)
        return lat

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=len(runners)) as pool:
        for lat in pool.map(worker, runners):
            t.latencies.extend(lat)
    t.wall = time.perf_counter() - t0
    t.images = len(runners) * iterations * batch
    return t


def interleaved(fns: dict, rounds: int, per_round: int, estimate=None) -> dict:
    """Time each callable ``per_round`` times per round, rounds interleaved A B C A B C ...

    Returns ``{name: [seconds per call, ...]}`` (round after round, ``per_round`` each); callables
    were warmed up once before. ``estimate``: an ``effv2nb.core.estimate.Estimate`` over the rounds
    (it prints the estimated total after the first round).
    """
    for fn in fns.values():
        fn()
    out = {k: [] for k in fns}
    for i in range(rounds):
        with (estimate.timing(i) if estimate is not None else contextlib.nullcontext()):
            for name, fn in fns.items():
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    fn()
                    out[name].append(time.perf_counter() - t0)
    return out


def round_ratios(num, den, per_round: int) -> list:
    """Per-round speed ratios ``median(den) / median(num)`` of two ``interleaved`` time lists
    (``num`` faster than ``den`` gives a ratio above 1), one per round."""
    n = min(len(num), len(den)) // per_round
    return [statistics.median(den[i * per_round:(i + 1) * per_round]) /
            statistics.median(num[i * per_round:(i + 1) * per_round]) for i in range(n)]


def ratio_summary(values) -> dict:
    """Median of per-round ratios with their spread (min, max), quartiles, count and every value in round order
    (a bimodal machine shows as two clusters in ``values`` that the median alone hides)."""
    v = [float(x) for x in values]
    q1, q3 = (float(q) for q in np.percentile(v, [25, 75]))
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "q1": q1, "q3": q3, "n": len(v),
            "values": [round(x, 3) for x in v]}


def format_ratio(name: str, r: dict) -> str:
    """``ratio NAME: median (quartiles, spread over n rounds; per round: ...)``: the whole distribution."""
    per_round = " ".join(f"{x:.2f}" for x in r.get("values", []))
    return (f"ratio {name}: {r['median']:.2f} (quartiles {r.get('q1', r['min']):.2f}-{r.get('q3', r['max']):.2f}, "
            f"spread {r['min']:.2f}-{r['max']:.2f} over {r['n']} rounds" + (f"; per round: {per_round})" if per_round else ")"))


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, threads: int | None = None) -> float:
    """The machine's float32 peak as measured by a large matrix product (torch, same threads)."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- ORT profiling
def op_time_profile(onnx_path, x: np.ndarray, runs: int = 5, threads: int | None = None) -> dict:
    """ORT's profiler summed by op type (depthwise convolutions apart): ``{op: milliseconds per run}``.

    One warm-up run, then ``runs`` profiled runs; each node's median over them (``profile_by_op``).
    A convolution kernel (``Conv``, ``FusedConv``, ``QLinearConv`` ...) is ``<op> (depthwise)`` when its
    graph node (``_graph_name``: by node or output name) has ``group`` > 1, or when its weight is
    ``(C, 1, kH, kW)`` on a ``C``-channel input (``_depthwise_kernel``).
    """
    import json

    import onnx

    from effv2nb.core.ort_session import ort_session

    model = onnx.load(str(onnx_path))
    dw_nodes = [n for n in model.graph.node if n.op_type == "Conv"
                and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    depthwise = {n.name for n in dw_nodes} | {o for n in dw_nodes for o in n.output}
    with tempfile.TemporaryDirectory(prefix="effv2nb-prof-") as tmp:
        sess = ort_session(onnx_path, threads=threads, profile_prefix=os.path.join(tmp, "prof"), spin=False)
        name = sess.get_inputs()[0].name
        x = x.astype(np.float16 if "float16" in sess.get_inputs()[0].type else np.float32)
        for _ in range(runs + 1):
            sess.run(None, {name: x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    return profile_by_op(events, depthwise)


def profile_by_op(events: list, depthwise=(), warmup: int = 1) -> dict:
    """Kernel times of ORT profiler ``events`` by op type, in ms per run, most first.

    Each node's first ``warmup`` runs are dropped (the first run allocates) and the median of the rest
    is taken (a run preempted by another process does not count), then summed by op type.
    ``depthwise``: node names of depthwise convolutions.
    """
    per_node = {}
    for e in sorted((e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")),
                    key=lambda e: e.get("ts", 0)):
        per_node.setdefault(e["name"], []).append(e)
    totals = {}
    for name, evs in per_node.items():
        args = evs[0].get("args", {})
        op = args.get("op_name", "?")
        if "Conv" in op and (_graph_name(name) in depthwise or _depthwise_kernel(args)):
            op = f"{op} (depthwise)"
        durs = [e["dur"] for e in evs[warmup:]] or [e["dur"] for e in evs]
        totals[op] = totals.get(op, 0.0) + statistics.median(durs) / 1e3
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def _graph_name(event_name: str) -> str:
    """The graph node (or output tensor) an ORT kernel event belongs to: ``<node>_kernel_time``, with the
    suffixes ORT adds when it fuses or re-lays nodes (``_token_<n>``, ``_nchwc`` on an output name) dropped."""
    n = event_name[: -len("_kernel_time")] if event_name.endswith("_kernel_time") else event_name
    n = re.sub(r"(_token_\d+)+$", "", n)
    return n[: -len("_nchwc")] if n.endswith("_nchwc") else n


def _depthwise_kernel(args: dict) -> bool:
    """A convolution event whose weight is ``(C, 1, kH, kW)`` on a ``C``-channel input (NCHW or NHWC)."""
    shapes = [list(d.values())[0] for d in args.get("input_type_shape", []) if d]
    four = [s for s in shapes if len(s) == 4]
    if len(four) < 2:
        return False
    x, w = four[0], four[1]
    return w[1] == 1 and w[0] > 1 and w[0] in (x[1], x[3])
