"""Notebook 04, ``infer --cluster``: the unit of work a Dask worker runs for ``infer``.

``infer_shard(model, images, ...)``: (model file, shard of images) -> one ``BatchResult`` with the
shard's predictions (top-k ids and probabilities, in path order) and the images it could not read.
The client formats and writes the lines (``effv2nb.device.result_stream``), so the result file is
the serial run's.

How the model reaches the workers: by path, with its SHA-256. The images are read by path too
(50,000 JPEGs are not shipped through the scheduler), so the workers need the file system the
client sees; the model rides the same file system instead of being sent, as bytes, to every task
(rw_t is 54 MB). Each worker process opens it once (``_runner`` keeps the session) and checks the
hash first: a worker that sees another file at that path fails the shard in one line rather than
mix two models into one result file.
"""
from __future__ import annotations

import os
from pathlib import Path

_RUNNERS: dict = {}        # (path, sha256, threads) -> OrtRunner, per worker process


_CHECKED: set = set()      # (path, sha256, mtime) this worker has hashed


def check_model(model_path: str, sha256: str) -> None:
    """The model file this worker sees is the client's (hashed once per file version and process)."""
    from effv2nb.core.checksums import file_sha256
    from effv2nb.core.errors import Effv2nbError

    p = Path(model_path)
    if not p.is_file():
        raise Effv2nbError("a Dask worker cannot read the model here: the workers must see the client's "
                           "files at the same paths (a shared file system)", model_path)
    key = (model_path, sha256, p.stat().st_mtime_ns)
    if key not in _CHECKED:
        if file_sha256(p) != sha256:
            raise Effv2nbError("a Dask worker sees another file at this path than the client does", model_path)
        _CHECKED.add(key)


def _runner(model_path: str, sha256: str, threads: int):
    from effv2nb.device.runtime import OrtRunner

    key = (model_path, sha256, threads)
    if key not in _RUNNERS:
        check_model(model_path, sha256)
        _RUNNERS.clear()
        _RUNNERS[key] = OrtRunner(model_path, providers=["CPUExecutionProvider"], threads=threads)
    return _RUNNERS[key]


def worker_threads() -> int:
    """Threads of the Dask worker this runs in (ONNX Runtime uses as many), 1 outside a worker."""
    try:
        from distributed import get_worker

        w = get_worker()
        return max(1, int(getattr(w, "nthreads", None) or w.state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


def infer_shard(model_path: str, sha256: str, names: list, cwd: str, vdsp: dict, batch: int, stop: int,
                topk: int = 5):
    """Run one shard (see the module docstring) -> ``BatchResult(stop, preds, failed)``: the serial
    pipeline, with one decode thread a batch ahead of this worker's model.

    ``names``: the images as the client names them (the result file's paths), read from ``cwd`` when relative.
    """
    from effv2nb.device.infer import BatchResult, iter_batches

    runner = _runner(model_path, sha256, worker_threads())
    full = [Path(cwd) / n for n in names]
    name_of = dict(zip(full, names))
    preds, failed = [], []
    for res in iter_batches(runner, full, vdsp, mode="async", batch=batch, topk=topk, workers=1):
        for p in res.preds:
            p.path = Path(name_of[p.path])
        preds.extend(res.preds)
        failed.extend((Path(name_of[p]), reason) for p, reason in res.failed)
    return BatchResult(stop, preds, failed)


def cluster_batches(cluster, runner, paths, vdsp, batch: int, start: int = 0, topk: int = 5):
    """``BatchResult``s of every shard of ``paths[start:]``, in order, computed on ``cluster``'s workers."""
    from effv2nb.cluster.shards import gather_in_order, shard_ranges
    from effv2nb.core.checksums import file_sha256
    from effv2nb.core.errors import Effv2nbError

    model_path = getattr(runner, "path", None)
    if model_path is None:
        raise Effv2nbError("--cluster runs ONNX models (--backend ort) only", where="--cluster")
    model_path = str(Path(model_path).resolve())
    sha = file_sha256(model_path)
    client = cluster.client
    cwd = os.getcwd()

    def submit(i, j):
        return client.submit(infer_shard, model_path, sha, [str(p) for p in paths[i:j]], cwd, vdsp, batch, j, topk,
                             key=f"effv2nb-infer-{sha[:12]}-{i}-{j}-{batch}", pure=False)

    yield from gather_in_order(client, submit, shard_ranges(len(paths), batch, start))
