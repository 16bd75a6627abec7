"""Checks on a compiled model: notebook 03, ``python -m effv2nb compile`` (and the int8 study of notebook 05).

``smoke_run``: the model loads and gives finite outputs on a fixed input; ``compare_outputs``: relative
L2 error and top-1 agreement of a candidate against its reference on the same inputs.
"""
from __future__ import annotations

import numpy as np

from effv2nb.core.errors import Effv2nbError
from effv2nb.core.ort_session import ort_session


def fixed_input(sess, batch=1, seed=0):
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else batch for d in inp.shape]
    return {inp.name: np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)}


def smoke_run(path):
    sess = ort_session(path)
    out = sess.run(None, fixed_input(sess))[0]
    if not np.all(np.isfinite(out)):
        raise Effv2nbError("compiled model gives non-finite outputs", path)


def compare_outputs(reference_onnx, candidate_onnx, inputs) -> dict:
    """Relative L2 error and top-1 agreement of ``candidate`` against ``reference`` on ``inputs``."""
    a, b = ort_session(reference_onnx), ort_session(candidate_onnx)
    name_a, name_b = a.get_inputs()[0].name, b.get_inputs()[0].name
    ref = np.concatenate([a.run(None, {name_a: x[None] if x.ndim == 3 else x})[0] for x in inputs])
    out = np.concatenate([b.run(None, {name_b: x[None] if x.ndim == 3 else x})[0] for x in inputs])
    return {"n": int(ref.shape[0]),
            "rel_l2": float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30)),
            "top1_agreement": float(np.mean(out.argmax(-1) == ref.argmax(-1)))}
