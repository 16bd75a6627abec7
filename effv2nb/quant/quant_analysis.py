"""Closing the int8 gap: accuracy table, per-layer error, sensitivity and greedy float fallback.

The seed's int8 loses 5.3 top-1 points on efficientnetv2_rw_t. This module measures *where*
post-training quantization hurts an EfficientNetV2 and how to get most of it back:

- ``evaluate_onnx``: top-1/top-5, top-1 agreement and logit SQNR against fp32, size, images/s;
- ``accuracy_table``: fp32, fp16 and int8 for each calibrate mode x per-channel on/off;
- ``layer_sqnr``: fp32 and int8 side by side, the SQNR of every node's output along the depth,
  with stem / SE / SiLU / depthwise / head nodes marked (``plot_layer_sqnr``);
- ``sensitivity``: how much each node group costs when it alone is quantized;
- ``greedy_fallback``: keep the most sensitive groups in float, one at a time, until a target
  (logit SQNR, agreement) is met; the result is a ``nodes_to_exclude`` list for compile
  (``backend.quantize.nodes_to_exclude`` in the build YAML, recorded in ``mod.json``).

Every int8 model is made by ``effv2nb.compile.build.quantize_int8`` (the one place calling ORT's
``quantize_static``); a ``Recipe`` is its arguments plus the number of calibration images.
SQNR = 10 log10(sum ref^2 / sum (ref - test)^2) in dB, over all logits (or all elements of a
node's output).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from effv2nb.quant import int8_paths
from effv2nb.device import preprocess
from effv2nb.core.errors import Effv2nbError
from effv2nb.quant.int8_recipes import Recipe, fast_recipe, grid_recipes, stock_recipe  # noqa: F401  (this module's API)
from effv2nb.core.metrics import agreement, sqnr_db, topk_rates  # noqa: F401  (part of this module's API)

KINDS = ("stem", "se", "silu", "depthwise", "conv", "add", "head", "other")
KIND_COLORS = {"stem": "tab:purple", "se": "tab:red", "silu": "tab:orange", "depthwise": "tab:green",
               "conv": "tab:blue", "add": "tab:gray", "head": "tab:brown", "other": "tab:olive"}


# ------------------------------------------------------------------------------------------ data
MAX_IN_MEMORY_BYTES = 2 * 1024 ** 3   # above this an evaluation set is decoded batch by batch


@dataclass
class EvalSet:
    """Preprocessed images (N, 3, H, W) float32 with their class indices and paths.

    ``x`` is None for a large set (ImageNet val): ``batches()`` then decodes and preprocesses on the
    fly, in a thread pool, so memory stays that of a few batches.
    """

    x: np.ndarray | None
    y: np.ndarray
    paths: list
    op: object = None

    def __len__(self):
        return len(self.y)

    def _load(self, paths):
        from effv2nb.data.images import read_image

        return np.stack([preprocess.apply(self.op, read_image(p)) for p in paths])

    def head(self, n: int) -> np.ndarray:
        return self.x[:n] if self.x is not None else self._load(self.paths[:n])

    def batches(self, batch: int = 64):
        if self.x is not None:
            for i in range(0, len(self.x), batch):
                yield self.x[i:i + batch]
            return
        from concurrent.futures import ThreadPoolExecutor

        chunks = [self.paths[i:i + batch] for i in range(0, len(self.paths), batch)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield from pool.map(self._load, chunks)


def load_eval_set(folder, vdsp, labels, size=None, limit=None, skip_unknown=False, in_memory=None) -> EvalSet:
    """A class-folder image tree, preprocessed with the vdsp op (the device's preprocessing).

    ``limit``: an even spread of that many images over the sorted list (every class kept).
    ``in_memory``: default True when the tensors fit in ``MAX_IN_MEMORY_BYTES``.
    """
    from effv2nb.data.datasets import folder_samples
    from effv2nb.data.images import read_image

    from effv2nb.data.folds import spread

    samples = folder_samples(folder, labels, allow_unknown=skip_unknown)
    samples = [s for s in samples if s.label is not None]
    return eval_set_from_samples(spread(samples, limit or None), vdsp, size, in_memory)


def eval_set_from_samples(samples, vdsp, size=None, in_memory=None) -> EvalSet:
    """An ``EvalSet`` of ``effv2nb.data.datasets.Sample`` items (one fold of ``effv2nb.data.folds``)."""
    from effv2nb.data.images import read_image

    if not samples:
        raise Effv2nbError("no images to evaluate on")
    op = preprocess.resolve(vdsp, size)
    if in_memory is None:
        in_memory = len(samples) * 3 * op.out_h * op.out_w * 4 <= MAX_IN_MEMORY_BYTES
    y = np.array([s.label for s in samples], dtype=np.int64)
    paths = [s.path for s in samples]
    x = np.stack([preprocess.apply(op, read_image(p)) for p in paths]) if in_memory else None
    return EvalSet(x, y, paths, op)


def calibration_arrays(folder, vdsp, size=None, n: int = 50) -> list:
    """``n`` calibration images (sorted order, as the vendor's sampler takes them), each (1, 3, H, W)."""
    from effv2nb.data.datasets import list_images
    from effv2nb.data.images import read_image

    from effv2nb.data.folds import spread

    # the vendor takes the first N sorted files; with class folders that is class 0 only. Spread
    # the pick over the sorted list instead, so that every class is seen (effv2nb.data.folds).
    files = spread(list_images(folder), int(n))
    if not files:
        raise Effv2nbError("no calibration images", folder)
    return arrays_from_files(files, vdsp, size)


def arrays_from_files(files, vdsp, size=None) -> list:
    """Each file through the vdsp op (the device's preprocessing), as (1, 3, H, W) float32 arrays."""
    from effv2nb.data.images import read_image

    op = preprocess.resolve(vdsp, size)
    return [preprocess.apply(op, read_image(p))[None] for p in files]


# ------------------------------------------------------------------------------------------ running
def ort_run(onnx_path, x, batch: int = 64, threads=None) -> np.ndarray:
    """Scores of an ONNX model on an array (N, 3, H, W) or an ``EvalSet``."""
    from effv2nb.device.runtime import OrtRunner

    r = OrtRunner(onnx_path, providers=["CPUExecutionProvider"], threads=threads)
    chunks = x.batches(batch) if isinstance(x, EvalSet) else (x[i:i + batch] for i in range(0, len(x), batch))
    return np.concatenate([r.run(c) for c in chunks])


def images_per_s(onnx_path, x, batch: int = 64, repeats: int = 5) -> float:
    """Images per second of ORT on one in-memory batch, best of ``repeats`` (noisy on a shared CPU)."""
    from effv2nb.device.runtime import OrtRunner, time_model

    x = x.head(batch) if isinstance(x, EvalSet) else x[:batch]
    return time_model(OrtRunner(onnx_path, providers=["CPUExecutionProvider"]), x, repeats=repeats)


def is_qdq(onnx_path) -> bool:
    """True for a model with QuantizeLinear nodes (one whose exact and host results can differ)."""
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    return any(n.op_type == "QuantizeLinear" for n in m.graph.node)


def evaluate_onnx(onnx_path, evalset: EvalSet, ref_logits=None, speed: bool = True, name: str = "") -> dict:
    """Accuracy on the exact path, the host's too, size (MB) and images/s (host) of one model.

    ``top1``, ``top5``, ``agree_fp32``, ``sqnr_db`` (vs ``ref_logits``) come from the exact QDQ
    arithmetic — the accelerator's view, the same on every CPU; ``host_top1``, ``host_agree``,
    ``host_sqnr_db`` from this CPU's fused kernels (``effv2nb.quant.int8_paths``). A float model has one
    result, reported on both.
    """
    host = ort_run(onnx_path, evalset)
    exact = int8_paths.run(onnx_path, evalset, int8_paths.EXACT) if is_qdq(onnx_path) else host
    row = {"model": name or Path(onnx_path).stem}
    for prefix, out in (("", exact), ("host_", host)):
        t1, t5 = topk_rates(out, evalset.y)
        row.update({f"{prefix}top1": t1, f"{prefix}top5": t5,
                    f"{prefix}agree{'_fp32' if not prefix else ''}":
                        agreement(ref_logits, out) if ref_logits is not None else 100.0,
                    f"{prefix}sqnr_db": sqnr_db(ref_logits, out) if ref_logits is not None else float("inf")})
    row.update({"size_mb": Path(onnx_path).stat().st_size / 1e6,
                "images_per_s": images_per_s(onnx_path, evalset) if speed else float("nan"),
                "path": str(onnx_path), "logits": exact, "host_logits": host})
    return row


# ------------------------------------------------------------------------------------------ graph
def node_table(onnx_path) -> list:
    """Nodes of a float ONNX graph in order: name, op_type, output, kind, group (block scope)."""
    import onnx

    m = onnx.load(str(onnx_path))
    inits = {i.name: i for i in m.graph.initializer}
    producers = {o: n for n in m.graph.node for o in n.output}
    consumers = {}
    for n in m.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    first_conv = convs[0].name if convs else None
    last_conv = convs[-1].name if convs else None
    rows = []
    for depth, n in enumerate(m.graph.node):
        name = n.name or n.output[0]
        group = _group_of(name, n, first_conv, last_conv)
        kind = _kind_of(n, name, inits, producers, consumers, first_conv, last_conv)
        rows.append({"depth": depth, "node": name, "op_type": n.op_type, "output": n.output[0],
                     "kind": kind, "group": group})
    # a node whose own kind is generic inherits stem/head from its group (its activation, pooling)
    for r in rows:
        if r["group"] in ("stem", "head") and r["kind"] in ("silu", "conv", "other", "add"):
            r["kind"] = r["group"]
    return rows


def _group_of(name, node, first_conv, last_conv):
    parts = [p for p in name.split("/") if p]
    if "blocks" in parts:
        i = parts.index("blocks")
        if i + 2 < len(parts):
            return parts[i + 2]            # e.g. blocks.3.0
        if i + 1 < len(parts):
            return parts[i + 1]
    if name == first_conv or (parts and parts[0] in ("conv_stem", "bn1")):
        return "stem"
    if name == last_conv or node.op_type in ("Gemm", "MatMul", "Flatten", "GlobalAveragePool") or (
            parts and parts[0] in ("conv_head", "bn2", "global_pool", "classifier")):
        return "head"
    return "other"


def _kind_of(n, name, inits, producers, consumers, first_conv, last_conv):
    if "/se/" in name or "/se_" in name:
        return "se"
    if n.op_type == "Conv":
        if name == first_conv:
            return "stem"
        if name == last_conv:
            return "head"
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if group > 1:
            return "depthwise"
        # structural SE test: a 1x1 conv fed (possibly through SiLU) by a spatial mean
        src = producers.get(n.input[0])
        for _ in range(3):
            if src is None:
                break
            if src.op_type == "ReduceMean":
                return "se"
            src = producers.get(src.input[0]) if src.op_type in ("Sigmoid", "Mul") else None
        return "conv"
    if n.op_type in ("Gemm", "MatMul"):
        return "head"
    if n.op_type == "Sigmoid":
        outs = consumers.get(n.output[0], [])
        if any(c.op_type == "Mul" and n.input[0] in c.input for c in outs):
            return "silu"
        return "se"          # a sigmoid gate
    if n.op_type == "Mul":
        srcs = [producers.get(i) for i in n.input]
        if any(s is not None and s.op_type == "Sigmoid" and s.input[0] in n.input for s in srcs):
            return "silu"
        return "se" if any(s is not None and s.op_type == "Sigmoid" for s in srcs) else "other"
    if n.op_type == "Add":
        return "add"
    if n.op_type in ("ReduceMean",):
        return "se"
    return "other"


def groups(rows) -> dict:
    """Node groups for the sensitivity search: stem, each block, head; plus all SE and all SiLU nodes."""
    out = {}
    for r in rows:
        out.setdefault(r["group"], []).append(r["node"])
    out["all SE"] = [r["node"] for r in rows if r["kind"] == "se"]
    out["all SiLU"] = [r["node"] for r in rows if r["kind"] == "silu"]
    return {k: v for k, v in out.items() if v}


# ------------------------------------------------------------------------------------------ per layer
def _with_outputs(model, names):
    import onnx

    have = {o.name for o in model.graph.output}
    for name in names:
        if name not in have:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    return model


def _run_outputs(model, x, names, optimize: bool = False):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    outs = sess.run(names, {inp: x})
    return dict(zip(names, outs))


def layer_sqnr(fp32_onnx, int8_onnx, x, path: str = "exact") -> list:
    """SQNR (dB) of every node's output, int8 model against fp32, on inputs ``x`` (N, 3, H, W).

    In the QDQ model a quantized tensor T is read as the 8-bit integers of its QuantizeLinear, scaled
    back (what the next node sees); a tensor left in float is read as is. ``path``: ``"exact"`` (no
    graph optimization: the accelerator's arithmetic) or ``"host"`` (this CPU's fused kernels; only the
    quantized tensors, since reading the 8-bit outputs leaves the fusion as it is).
    """
    import onnx
    from onnx import numpy_helper

    rows = node_table(fp32_onnx)
    f = onnx.load(str(fp32_onnx))
    q = onnx.load(str(int8_onnx))
    inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    consumers = {}
    for n in q.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    q_outputs = {o for n in q.graph.node for o in n.output}
    mapping = {}
    for r in rows:
        t = r["output"]
        qn = next((c for c in consumers.get(t, []) if c.op_type == "QuantizeLinear"), None)
        if qn is not None and qn.input[1] in inits:
            zp = inits[qn.input[2]] if len(qn.input) > 2 and qn.input[2] in inits else np.zeros((), np.uint8)
            mapping[t] = (qn.output[0], inits[qn.input[1]], zp)
        elif t in q_outputs and path == "exact":
            mapping[t] = (t, None, None)
    names = [r["output"] for r in rows if r["output"] in mapping]
    ref = _run_outputs(_with_outputs(f, names), x, names, optimize=True)
    qnames = list(dict.fromkeys(mapping[t][0] for t in names))
    got = _run_outputs(_with_outputs(q, qnames), x, qnames, optimize=path == "host")
    out = []
    for r in rows:
        t = r["output"]
        if t not in mapping:
            continue
        qt, scale, zp = mapping[t]
        val = got[qt] if scale is None else (got[qt].astype(np.float32) - zp.astype(np.float32)) * scale
        out.append(dict(r, quantized=scale is not None, sqnr_db=sqnr_db(ref[t], val)))
    return out


def plot_layer_sqnr(rows, ax=None, title: str = ""):
    """SQNR along the depth; marker colour = node kind, hollow markers = left in float."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    finite = [r for r in rows if np.isfinite(r["sqnr_db"])]
    ax.plot([r["depth"] for r in finite], [r["sqnr_db"] for r in finite], color="0.8", lw=1, zorder=1)
    for kind in KINDS:
        pts = [r for r in finite if r["kind"] == kind]
        if not pts:
            continue
        q = [r for r in pts if r.get("quantized", True)]
        fl = [r for r in pts if not r.get("quantized", True)]
        if q:
            ax.scatter([r["depth"] for r in q], [r["sqnr_db"] for r in q], s=22, color=KIND_COLORS[kind],
                       label=kind, zorder=2)
        if fl:
            ax.scatter([r["depth"] for r in fl], [r["sqnr_db"] for r in fl], s=22, facecolors="none",
                       edgecolors=KIND_COLORS[kind], label=None if q else kind, zorder=2)
    ax.set_xlabel("node index along the network (topological order)")
    ax.set_ylabel("output SQNR vs fp32 (dB)")
    ax.set_title(title or "per-layer int8 error (hollow: node output left in float)")
    ax.grid(alpha=0.3)
    ax.legend(ncol=4, fontsize=8)
    return ax


# ------------------------------------------------------------------------------------------ search
@dataclass
class SearchResult:
    recipe: Recipe
    kept_float: list                # group names kept in float, in order added
    nodes_to_exclude: list
    steps: list = field(default_factory=list)    # one row per step: groups, sqnr, agreement
    final: dict = field(default_factory=dict)    # evaluate_onnx row of the result
    met: bool = False


def sensitivity(fp32_onnx, base: Recipe, calib, x, ref_logits, workdir, group_map=None, progress=True,
                num_calib=None) -> list:
    """For each node group: logit SQNR / agreement when *only* that group is quantized (rest float),
    on the exact path (what quantization itself costs, whatever this CPU's kernels do).

    Lowest SQNR first: the groups that cost most. Nodes ``base`` already keeps in float stay in
    float; groups left with nothing to quantize are skipped. ``num_calib`` overrides the base's
    calibration count (a ranking needs fewer images than a final model).
    """
    workdir = Path(workdir)
    rows = node_table(fp32_onnx)
    gm = group_map or groups(rows)
    all_nodes = [r["node"] for r in rows]
    base_float = set(base.nodes_to_exclude)
    gm = {g: [n for n in nodes if n not in base_float] for g, nodes in gm.items()}
    gm = {g: nodes for g, nodes in gm.items() if nodes}
    if num_calib:
        base = base.replace(num_calib=int(num_calib))
    out = []
    items = list(gm.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="sensitivity", leave=False)
    for i, (g, nodes) in enumerate(items):
        keep = set(nodes)
        recipe = base.replace(nodes_to_exclude=tuple(n for n in all_nodes if n not in keep))
        path = recipe.quantize(fp32_onnx, workdir / f"sens_{i:02d}.onnx", calib)
        logits = int8_paths.run(path, x, int8_paths.EXACT)
        out.append({"group": g, "nodes": len(nodes), "sqnr_db": sqnr_db(ref_logits, logits),
                    "agree_fp32": agreement(ref_logits, logits)})
    return sorted(out, key=lambda r: r["sqnr_db"])


def greedy_fallback(fp32_onnx, base: Recipe, calib, evalset: EvalSet, ref_logits, workdir,
                    target_sqnr: float = 30.0, target_agree: float = 99.5, max_steps: int = 6,
                    sens=None, group_map=None, progress=True) -> SearchResult:
    """Keep the most sensitive groups in float, one at a time, until the targets hold.

    A step passes when the exact SQNR reaches ``target_sqnr``, this CPU's host SQNR reaches it less
    ``int8_paths.HOST_LOSS_LIMIT_DB``, and the exact top-1 agreement reaches ``target_agree``.
    Starts from ``base`` as is (step 0); ``sens`` (from ``sensitivity``) gives the order.
    Bounded by ``max_steps`` quantizations after the first.
    """
    workdir = Path(workdir)
    rows = node_table(fp32_onnx)
    gm = group_map or groups(rows)
    order = [s["group"] for s in (sens or sensitivity(fp32_onnx, base, calib, evalset, ref_logits, workdir,
                                                     gm, progress))]
    kept, excluded = [], list(base.nodes_to_exclude)
    steps = []

    def attempt(step):
        recipe = base.replace(nodes_to_exclude=tuple(dict.fromkeys(excluded)),
                              name=f"{base.name} + float: {', '.join(kept) or 'none'}")
        path = recipe.quantize(fp32_onnx, workdir / f"greedy_{step:02d}.onnx", calib)
        sc = int8_paths.score(ref_logits, path, evalset)
        s, h, a = sc["exact_sqnr_db"], sc["host_sqnr_db"], sc["exact_agreement"]
        steps.append({"step": step, "kept_float": list(kept), "sqnr_db": s, "host_sqnr_db": h, "agree_fp32": a,
                      "path": str(path)})
        return recipe, path, (s >= target_sqnr and h >= target_sqnr - int8_paths.HOST_LOSS_LIMIT_DB
                              and a >= target_agree)

    recipe, path, ok = attempt(0)
    order = [g for g in order if g in gm and not set(gm[g]) <= set(excluded)]
    for step, g in enumerate(order[:max_steps], 1):
        if ok:
            break
        kept.append(g)
        excluded.extend(gm[g])
        recipe, path, ok = attempt(step)
    final = evaluate_onnx(path, evalset, ref_logits, name=recipe.name)
    return SearchResult(recipe, kept, list(dict.fromkeys(excluded)), steps, final, ok)


# ------------------------------------------------------------------------------------------ table
def accuracy_table(fp32_onnx, evalset: EvalSet, calib, workdir, recipes, fp16: bool = True,
                   progress: bool = True) -> list:
    """Rows: fp32 (ORT), fp16 (if asked), then one int8 row per recipe. ``calib``: list of (1,3,H,W)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fp32 = evaluate_onnx(fp32_onnx, evalset, None, name="fp32 (ORT)")
    ref = fp32["logits"]
    fp32["agree_fp32"], fp32["sqnr_db"] = 100.0, float("inf")
    rows = [fp32]
    if fp16:
        from effv2nb.compile.build import convert_fp16

        p16 = convert_fp16(fp32_onnx, workdir / "fp16.onnx")
        rows.append(evaluate_onnx(p16, evalset, ref, name="fp16"))
        rows[-1].pop("logits", None)
        rows[-1].pop("host_logits", None)
    items = list(recipes)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="int8 recipes", leave=False)
    for i, r in enumerate(items):
        t = time.perf_counter()
        path = r.quantize(fp32_onnx, workdir / f"int8_{i:02d}.onnx", calib)
        row = evaluate_onnx(path, evalset, ref, name=r.name)
        row["quantize_s"] = time.perf_counter() - t
        row["recipe"] = r
        row.pop("logits", None)   # only fp32's are kept (50,000 x 1000 floats per row on ImageNet)
        row.pop("host_logits", None)
        rows.append(row)
    return rows


COLUMNS = (("model", "{:<56}"), ("top1", "{:>7.2f}"), ("top5", "{:>7.2f}"), ("agree_fp32", "{:>8.2f}"),
           ("sqnr_db", "{:>8.2f}"), ("host_sqnr_db", "{:>8.2f}"), ("size_mb", "{:>8.3f}"),
           ("images_per_s", "{:>9.0f}"))
HEADERS = ("model", "top-1", "top-5", "agree%", "exact dB", "host dB", "size MB", "images/s")


def format_table(rows) -> str:
    """A plain-text table of ``accuracy_table`` rows: accuracy on the exact path, SQNR on both
    (exact: the accelerator's arithmetic; host: this CPU's int8 kernels), speed on the host."""
    head = " ".join(f"{h:<56}" if i == 0 else f"{h:>{len(f.format(0) if i else '')}}"
                    for i, (h, (_, f)) in enumerate(zip(HEADERS, COLUMNS)))
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for key, f in COLUMNS:
            v = r.get(key, "")
            if key == "model":
                cells.append(f.format(str(v)[:56]))
            elif isinstance(v, float) and not np.isfinite(v):
                cells.append(f"{'inf' if v > 0 else 'n/a':>{len(f.format(0.0))}}")
            else:
                cells.append(f.format(v))
        lines.append(" ".join(cells))
    return "\n".join(lines)


def plot_table(rows, ax=None, title: str = ""):
    """top-1 agreement and logit SQNR per model row (bars), fp32 excluded from SQNR."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4))
    rows = [r for r in rows if np.isfinite(r["sqnr_db"])]
    names = [r["model"] for r in rows]
    xs = np.arange(len(rows))
    ax.bar(xs, [r["sqnr_db"] for r in rows], color="tab:blue", label="logit SQNR vs fp32 (dB)")
    ax.set_xticks(xs, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("SQNR (dB)")
    ax2 = ax.twinx()
    ax2.plot(xs, [r["agree_fp32"] for r in rows], "o-", color="tab:red", label="top-1 agreement (%)")
    ax2.set_ylabel("top-1 agreement with fp32 (%)")
    ax.set_title(title or "fp16 and int8 recipes against fp32")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    return ax


# ------------------------------------------------------------------------------------------ compile
def fallback_config(base_yaml, out_yaml, recipe: Recipe, checkpoint=None, workspace=None, name=None,
                    calib_dir=None) -> Path:
    """A build YAML for ``recipe``: ``base_yaml`` with ``backend.quantize`` set (``nodes_to_exclude``
    included, so compile keeps those nodes in float and records them in ``mod.json``).

    Keys the suite does not model are kept. Relative paths are made absolute so the new file
    may live anywhere; ``checkpoint`` / ``workspace`` / ``name`` / ``calib_dir`` override.
    """
    import os

    from effv2nb.core import atomic
    from effv2nb.formats.build_config import dump_yaml, read_yaml

    base_yaml, out_yaml = Path(base_yaml), Path(out_yaml)
    raw = read_yaml(base_yaml)
    if not isinstance(raw, dict):
        raise Effv2nbError("not a build config (a YAML mapping)", base_yaml)
    base_dir = base_yaml.resolve().parent

    def sec(*keys):
        d = raw
        for k in keys:
            if not isinstance(d.get(k), dict):
                d[k] = {}
            d = d[k]
        return d

    for s, k in (("frontend", "checkpoint"), ("dataset", "path")):
        v = sec(s).get(k)
        if isinstance(v, str) and v and not Path(v).expanduser().is_absolute():
            sec(s)[k] = os.path.normpath(str(base_dir / v))
    if checkpoint is not None:
        sec("frontend")["checkpoint"] = str(Path(checkpoint).resolve())
    if calib_dir is not None:
        sec("dataset")["path"] = str(Path(calib_dir).resolve())
    if workspace is not None:
        sec("workspace")["path"] = str(Path(workspace).resolve())
    if name is not None:
        raw["name"] = str(name)
    sec("backend")["dtype"] = "int8"
    q = sec("backend", "quantize")
    q.update(recipe.build_yaml_quantize())
    if not recipe.nodes_to_exclude:
        q.pop("nodes_to_exclude", None)
    sec("dataset", "sampler")["get_data_num"] = int(recipe.num_calib)
    atomic.write_text(out_yaml, dump_yaml(raw))
    return out_yaml


# ------------------------------------------------------------------------------------------ speed-aware
def block_groups(fp32_onnx) -> dict:
    """Node groups that are whole blocks (stem, blocks.i.j, head): no network-wide SE/SiLU groups."""
    return {g: nodes for g, nodes in groups(node_table(fp32_onnx)).items() if not g.startswith("all ")}


def speed_aware_search(fp32_onnx, calib, evalset: EvalSet, ref_logits, workdir, target_sqnr: float = 31.0,
                       target_agree: float = 99.5, max_steps: int = 6, sens_calib: int = 50,
                       progress: bool = True) -> SearchResult:
    """Greedy block-level float fallback from ``fast_recipe``, until the SQNR and agreement targets hold.

    Labels are not needed: SQNR and agreement compare against the fp32 logits, so any representative
    images serve as ``evalset``.
    """
    gm = block_groups(fp32_onnx)
    base = fast_recipe(num_calib=len(calib))
    sens = sensitivity(fp32_onnx, base, calib, evalset, ref_logits, Path(workdir) / "sens", gm, progress,
                       num_calib=sens_calib)
    return greedy_fallback(fp32_onnx, base, calib, evalset, ref_logits, workdir, target_sqnr=target_sqnr,
                           target_agree=target_agree, max_steps=max_steps, sens=sens, group_map=gm,
                           progress=progress)
