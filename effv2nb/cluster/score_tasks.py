"""Notebook 05, ``int8-report --cluster``: the unit of work a Dask worker runs to score an int8 model.

``score_shard(model, ref model, shard of samples)``: the shard's images through the device's
preprocessing, the fp32 reference and the model (the exact QDQ path and this worker's host kernels,
as ``effv2nb.quant.onnx_eval.evaluate_onnx`` runs them) -> two ``Sums`` (exact, host). Shards are
``SHARD`` images, the batch ``evaluate_onnx`` uses, so every logit is the serial run's.
``score_on_cluster`` runs every shard of a fold and merges. Models reach the workers by path,
checked by SHA-256, as in ``effv2nb.cluster.infer_tasks``.
"""
from __future__ import annotations

SHARD = 64


def score_shard(model_path: str, sha: str, ref_path: str, ref_sha: str, samples: list, vdsp: dict, size: int):
    from effv2nb.cluster.infer_tasks import check_model
    from effv2nb.cluster.sums import Sums
    from effv2nb.quant import eval_sets, onnx_eval

    check_model(model_path, sha)
    check_model(ref_path, ref_sha)
    ev = eval_sets.eval_set_from_samples(samples, vdsp, size)
    ref = onnx_eval.ort_run(ref_path, ev)
    row = onnx_eval.evaluate_onnx(model_path, ev, ref, speed=False)
    return Sums.of(ref, row["logits"], ev.y), Sums.of(ref, row["host_logits"], ev.y)


def score_on_cluster(cluster, model_path, ref_path, samples, vdsp, size: int):
    """(exact ``Sums``, host ``Sums``) of ``model_path`` on ``samples``, shard by shard on ``cluster``."""
    from pathlib import Path

    from effv2nb.cluster.shards import gather_in_order, shard_ranges
    from effv2nb.cluster.sums import Sums
    from effv2nb.core.checksums import file_sha256

    import dataclasses

    model_path, ref_path = str(Path(model_path).resolve()), str(Path(ref_path).resolve())
    samples = [dataclasses.replace(s, path=Path(s.path).resolve()) for s in samples]   # workers may run elsewhere
    sha, ref_sha = file_sha256(model_path), file_sha256(ref_path)
    client = cluster.client

    def submit(i, j):
        return client.submit(score_shard, model_path, sha, ref_path, ref_sha, samples[i:j], vdsp, size,
                             key=f"effv2nb-score-{sha[:12]}-{i}-{j}", pure=False)

    exact, host = Sums(), Sums()
    for e, h in gather_in_order(client, submit, shard_ranges(len(samples), SHARD, 0, SHARD)):
        exact, host = exact.merge(e), host.merge(h)
    return exact, host
