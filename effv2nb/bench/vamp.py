"""The vendor's ``vamp`` on the stand-in device: ``python -m effv2nb vamp`` (step 5; notebook 06).

The vendor's meanings: ``-i`` model instances, ``-p`` processes, ``-b`` batch, ``--iterations`` batches
per instance, ``-s [C,H,W]`` the input shape. Here each process opens the compiled model once (an ONNX
Runtime session is safe to run from several threads; copies of the weights buy nothing on a CPU) and
runs ``-i`` instance threads on it, each ``--iterations`` batches of ``-b`` after one warm-up batch;
``-p`` > 1 starts that many processes, which begin together. Throughput is all images over the wall time
from the first start to the last end; latency percentiles are those of every batch.

A compiled model runs only the shape it was compiled for: a ``-s`` that differs (the vendor's page writes
``-s [3,224,224]`` next to a build YAML at 288) is named in one line with what is run instead
(``shape_plan``); with ``--vdsp_params`` the host preprocessing then takes frames of the ``-s`` size.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from dataclasses import dataclass

import numpy as np

from effv2nb.bench.timing import Timing, vamp_run
from effv2nb.core.errors import Effv2nbError


def parse_shape(text, flag: str = "--shape") -> tuple:
    """``3,H,W`` or the vendor's ``[3,H,W]`` as ``(C, H, W)``; anything else is one error naming ``flag``."""
    try:
        c, h, w = (int(v) for v in str(text).replace("[", "").replace("]", "").split(","))
    except ValueError:
        raise Effv2nbError(f"must be C,H,W or [C,H,W], got '{text}'", where=flag) from None
    if min(c, h, w) < 1 or max(h, w) > 8192:
        raise Effv2nbError(f"must be C,H,W with sizes from 1 to 8192, got '{text}'", where=flag)
    return c, h, w


def shape_plan(requested, model_size, vdsp: bool, flag: str = "-s"):
    """``(shape to run, frame shape for the host preprocessing, note or None)``.

    ``model_size``: the compiled model's (H, W), or None when its input size is free.
    """
    if model_size is None:
        shape = requested or (3, 224, 224)
        return shape, shape, None
    model = (3, *model_size)
    if requested is None or tuple(requested) == model:
        return model, model, None
    if requested[0] != 3:
        raise Effv2nbError(f"{list(requested)}: the model takes 3 channels ({list(model)})", where=flag)
    want, have = "[" + ",".join(map(str, requested)) + "]", "[" + ",".join(map(str, model)) + "]"
    if vdsp:
        note = (f"{flag} {want} is not the compiled model's input {have}: running {have}, with the host vdsp "
                f"preprocessing resizing {requested[1]}x{requested[2]} frames to it (a compiled model takes only "
                f"the shape it was compiled for; to time {want}, compile at that size)")
        return model, tuple(requested), note
    note = (f"{flag} {want} is not the compiled model's input {have}: running {have} (a compiled model takes only "
            f"the shape it was compiled for; to time {want}, compile at that size)")
    return model, model, note


class WithHostPreprocess:
    """Adds the vdsp preprocessing of B synthetic camera frames to each batch (as vamp's device does)."""

    def __init__(self, runner, vdsp, frame_shape, model_size=None):
        self.runner, self.vdsp = runner, vdsp
        rng = np.random.default_rng(0)
        self.frame = rng.integers(0, 256, (frame_shape[1], frame_shape[2], 3), dtype=np.uint8)
        self.size = model_size

    def run(self, x):
        from effv2nb.device import preprocess

        batch = np.stack([preprocess.apply(self.vdsp, self.frame, self.size) for _ in range(len(x))])
        return self.runner.run(batch)

    def describe(self):
        return self.runner.describe() + " + host vdsp preprocessing"


@dataclass
class Plan:
    """One ``vamp`` run: what each process opens and runs."""

    prefix: str
    vdsp_path: str | None
    instances: int
    processes: int
    batch: int
    iterations: int
    shape: tuple | None          # -s as given, or None
    threads: int
    backend: str = "ort"
    device_id: int = 0
    datalist: str | None = None
    path_output: str | None = None


def open_model(plan: Plan):
    from effv2nb.device import runtime

    return runtime.open_runner(plan.backend, plan.prefix, vdsp_path=plan.vdsp_path, device_id=plan.device_id,
                               batch=plan.batch, threads=plan.threads)


def _vdsp(plan):
    from effv2nb.formats.vdsp import load_vdsp

    return load_vdsp(plan.vdsp_path) if plan.vdsp_path else None


def _one_process(plan: Plan, part=(0, 1), barrier=None, runner=None):
    """The work of one process: ``(latencies, start, end)`` in ``time.perf_counter`` seconds."""
    own = runner is None
    runner = open_model(plan) if own else runner
    try:
        vdsp = _vdsp(plan)
        if plan.datalist:
            from effv2nb.device.npz import run_datalist

            lat = []
            if barrier is not None:
                barrier.wait()
            t0 = time.perf_counter()
            run_datalist(runner, plan.datalist, plan.path_output, vdsp, batch=plan.batch,
                         instances=plan.instances, part=part, latencies=lat)
            return lat, t0, time.perf_counter()
        shape, frame, _ = shape_plan(plan.shape, runner.input_size, vdsp is not None)
        r = WithHostPreprocess(runner, vdsp, frame, runner.input_size) if vdsp is not None else runner
        r.run(np.zeros((plan.batch, *shape), np.float32))                     # warm-up, once per session
        if barrier is not None:
            barrier.wait()
        t = vamp_run([r] * plan.instances, plan.batch, plan.iterations, shape, warmup=0)
        end = time.perf_counter()
        return t.latencies, end - t.wall, end
    finally:
        if own:
            runner.close()


_BARRIER = None


def _init(barrier):
    global _BARRIER
    _BARRIER = barrier


def _child(plan, part):
    return _one_process(plan, part, _BARRIER)


def run(plan: Plan, runner=None) -> Timing:
    """Run ``plan``; its Timing (all batches of all instances and processes). ``runner``: the model
    already open in this process (used when there is one process)."""
    t = Timing("vamp", plan.batch)
    if plan.processes <= 1:
        results = [_one_process(plan, runner=runner)]
    else:
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(plan.processes)
        with cf.ProcessPoolExecutor(plan.processes, mp_context=ctx, initializer=_init, initargs=(barrier,)) as pool:
            results = list(pool.map(_child, [plan] * plan.processes,
                                    [(k, plan.processes) for k in range(plan.processes)]))
    for lat, _, _ in results:
        t.latencies.extend(lat)
    t.wall = max(r[2] for r in results) - min(r[1] for r in results)
    if plan.datalist:
        from effv2nb.device.npz import read_datalist

        t.images = len(read_datalist(plan.datalist))
    else:
        t.images = plan.processes * plan.instances * plan.iterations * plan.batch
    return t


def default_threads(instances: int, processes: int) -> int:
    """Intra-op threads per session: this machine's cores shared by every instance of every process."""
    return max(1, (os.cpu_count() or 2) // max(1, instances * processes))
