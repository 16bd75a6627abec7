"""Closing the int8 gap by search: notebook 05, ``int8-report`` (and ``bench --compare``).

``sensitivity``: how much each node group costs when it alone is quantized; ``greedy_fallback``: keep
the most sensitive groups in float, one at a time, until a target (logit SQNR, agreement) is met; the
result is a ``nodes_to_exclude`` list for compile (``backend.quantize.nodes_to_exclude``, see
``docs/vendor-files.md``, section "Build YAML"). ``speed_aware_search`` weighs what each group costs in speed.
Every int8 model is made by ``effv2nb.compile.ort_quantize.quantize_int8``.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from effv2nb.core.estimate import Estimate
from effv2nb.core.metrics import agreement, sqnr_db
from effv2nb.quant import int8_paths
from effv2nb.quant.eval_sets import EvalSet
from effv2nb.quant.graph_kinds import groups, node_table
from effv2nb.quant.int8_recipes import Recipe, fast_recipe
from effv2nb.quant.onnx_eval import evaluate_onnx


@dataclass
class SearchResult:
    recipe: Recipe
    kept_float: list                # group names kept in float, in order added
    nodes_to_exclude: list
    steps: list = field(default_factory=list)    # one row per step: groups, sqnr, agreement
    final: dict = field(default_factory=dict)    # evaluate_onnx row of the result
    met: bool = False


def sensitivity(fp32_onnx, base: Recipe, calib, x, ref_logits, workdir, group_map=None, progress=True,
                num_calib=None, knobs=None, log=print) -> list:
    """For each node group: logit SQNR / agreement when *only* that group is quantized (rest float),
    on the exact path (what quantization itself costs, whatever this CPU's kernels do).

    Lowest SQNR first: the groups that cost most. Nodes ``base`` already keeps in float stay in
    float; groups left with nothing to quantize are skipped. ``num_calib`` overrides the base's
    calibration count (a ranking needs fewer images than a final model). With ``knobs`` (a list, even
    empty) one line estimates the whole ranking's time from its first group, naming the knobs.
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
    est = Estimate("the sensitivity ranking", len(items), "group", knobs, log=log) if knobs is not None else None
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="sensitivity", leave=False)
    for i, (g, nodes) in enumerate(items):
        keep = set(nodes)
        recipe = base.replace(nodes_to_exclude=tuple(n for n in all_nodes if n not in keep))
        with est.timing(i) if est else nullcontext():
            path = recipe.quantize(fp32_onnx, workdir / f"sens_{i:02d}.onnx", calib)
            logits = int8_paths.run(path, x, int8_paths.EXACT)
        out.append({"group": g, "nodes": len(nodes), "sqnr_db": sqnr_db(ref_logits, logits),
                    "agree_fp32": agreement(ref_logits, logits)})
    return sorted(out, key=lambda r: r["sqnr_db"])


def greedy_fallback(fp32_onnx, base: Recipe, calib, evalset: EvalSet, ref_logits, workdir,
                    target_sqnr: float = 30.0, target_agree: float = 99.5, max_steps: int = 6,
                    sens=None, group_map=None, progress=True, knobs=None, log=print) -> SearchResult:
    """Keep the most sensitive groups in float, one at a time, until the targets hold.

    A step passes when the exact SQNR reaches ``target_sqnr``, this CPU's host SQNR reaches it less
    ``int8_paths.HOST_LOSS_LIMIT_DB``, and the exact top-1 agreement reaches ``target_agree``.
    Starts from ``base`` as is (step 0); ``sens`` (from ``sensitivity``) gives the order.
    Bounded by ``max_steps`` quantizations after the first. With ``knobs`` (a list, even empty) one
    line estimates the time of every step from the first one that is not already built.
    """
    workdir = Path(workdir)
    rows = node_table(fp32_onnx)
    gm = group_map or groups(rows)
    order = [s["group"] for s in (sens or sensitivity(fp32_onnx, base, calib, evalset, ref_logits, workdir,
                                                     gm, progress))]
    kept, excluded = [], list(base.nodes_to_exclude)
    steps = []
    order = [g for g in order if g in gm and not set(gm[g]) <= set(excluded)]
    first_built = base.is_built(fp32_onnx, calib)
    est = (Estimate("the greedy fallback if every step is needed", min(max_steps, len(order)) + (not first_built),
                    "step", knobs, log=log) if knobs is not None else None)
    fresh = [0]

    def attempt(step):
        recipe = base.replace(nodes_to_exclude=tuple(dict.fromkeys(excluded)),
                              name=f"{base.name} + float: {', '.join(kept) or 'none'}")
        timed = est is not None and not recipe.is_built(fp32_onnx, calib)
        with est.timing(fresh[0]) if timed else nullcontext():
            path = recipe.quantize(fp32_onnx, workdir / f"greedy_{step:02d}.onnx", calib)
            sc = int8_paths.score(ref_logits, path, evalset)
        fresh[0] += timed
        s, h, a = sc["exact_sqnr_db"], sc["host_sqnr_db"], sc["exact_agreement"]
        steps.append({"step": step, "kept_float": list(kept), "sqnr_db": s, "host_sqnr_db": h, "agree_fp32": a,
                      "path": str(path)})
        return recipe, path, (s >= target_sqnr and h >= target_sqnr - int8_paths.HOST_LOSS_LIMIT_DB
                              and a >= target_agree)

    recipe, path, ok = attempt(0)
    for step, g in enumerate(order[:max_steps], 1):
        if ok:
            break
        kept.append(g)
        excluded.extend(gm[g])
        recipe, path, ok = attempt(step)
    final = evaluate_onnx(path, evalset, ref_logits, name=recipe.name)
    return SearchResult(recipe, kept, list(dict.fromkeys(excluded)), steps, final, ok)


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
