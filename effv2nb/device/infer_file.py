"""Notebook 04, ``python -m effv2nb infer``: a folder through a runner into the result file, streamed and resumable.

``infer_to_file(runner, source, vdsp, target, ...)`` is what ``infer`` does once its arguments are
checked: list the images (sorted), open the ``ResultJournal`` (``resume`` goes on from an interrupted
run with the same identity), feed it the batches — from this process (``iter_batches``) or from a
Dask cluster (``effv2nb.cluster.infer_tasks``), in the same order and with the same batches — and
rename the finished file into place. Notebook 04 calls it with and without a cluster.
"""
from __future__ import annotations

import sys
from pathlib import Path

from effv2nb.core.errors import Effv2nbError
from effv2nb.device import run_identity
from effv2nb.device.infer import iter_batches, labels_for, list_sources
from effv2nb.device.journal import ResultJournal
from effv2nb.device.result_stream import write_stream


def infer_to_file(runner, source, vdsp, target, batch: int = 8, mode: str = "async", workers=None,
                  cluster=None, resume: bool = False, label_txt=None, prefix=None, vdsp_path=None,
                  backend: str = "ort", progress: bool = True, log=None):
    """-> ``(result file, StreamStats)``. ``cluster``: an open ``effv2nb.cluster.connect.Cluster`` or None."""
    log = log or (lambda line: print(line, file=sys.stderr))
    paths = list_sources(source)
    identity = run_identity.identity(runner, prefix if prefix is not None else getattr(runner, "path", ""),
                                     vdsp_path, source, paths, label_txt, backend, batch)
    journal = ResultJournal(target, identity, resume=resume, log=log)
    start, skipped = journal.open()
    try:
        if start:
            log(f"resuming: {start} of {len(paths)} images already done ({journal.partial.name})")
        if cluster is not None:
            from effv2nb.cluster.infer_tasks import cluster_batches

            batches = cluster_batches(cluster, runner, paths, vdsp, batch, start)
        else:
            batches = iter_batches(runner, paths, vdsp, mode, batch, workers=workers, start=start)
        stats = write_stream(batches, journal, len(paths), lambda n: labels_for(n, label_txt, prefix),
                             progress=progress, desc=f"infer ({mode if cluster is None else cluster.spec})",
                             skipped_before=[(Path(p), r) for p, r in skipped])
        if stats.images + start - len(skipped) <= 0:
            reasons = "; ".join(f"{p}: {r}" for p, r in stats.failed[:3])
            raise Effv2nbError(f"no image could be read ({reasons})", source, "--file-path")
        return journal.finish(), stats
    finally:
        journal.close()
