"""Notebook 01 (architecture): the paper's claims.

The EfficientNetV2 paper's claims, measured on this machine.

- ``fused_vs_mbconv``: one block per stage of a model, built as MBConv and as Fused-MBConv at
  that stage's real channels and feature-map size; forward+backward time of each (same batch,
  same threads) and the ratio — the paper says fused is faster early, not late.
- ``compare_networks``: the tiny-width network with no stage fused, stages 1-3 fused, and all
  fused — parameters, MACs, training-step time (the question of the paper's Table 3).
- ``progressive_schedule``: image size and regularisation per training stage by linear
  interpolation (Algorithm 1), with the paper's S/M/L settings (Table 6);
  ``progressive_experiment`` trains ``tiny`` with a fixed vs a progressive image size.

Timings: warm-up runs, then the median of repeats, with a fixed thread count (default 1: on a
shared 2-core machine two intra-op threads per process make timings swing by 5-10x).
``settings.quick()`` shrinks the repeats and the training epochs; the code path is the same.
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from effv2nb.model.blocks import FusedMBConv, MBConv
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import sized

# ----------------------------------------------------------------------------- timing


@contextlib.contextmanager
def threads(n: int):
    """Run with exactly ``n`` intra-op threads, restoring the previous setting afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def median_time(fn, warmup: int | None = None, repeats: int | None = None) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls (CI-sized under EFFV2NB_QUICK)."""
    warmup = sized(2, 1) if warmup is None else warmup
    repeats = sized(7, 3) if repeats is None else repeats
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fwd_bwd(module: nn.Module, x: torch.Tensor):
    """One forward + backward pass (gradients of a simple scalar loss), gradients discarded."""
    def step():
        module.zero_grad(set_to_none=True)
        module(x).square().mean().backward()
    return step


# ----------------------------------------------------------------------------- fused vs MBConv


def stage_blocks(row: dict) -> tuple:
    """(MBConv, FusedMBConv) for one ``arch.stage_table`` row: stride 1, in = out = the stage's
    channels, the stage's expansion and SE ratio (the paper's form: Fused-MBConv1 has no projection)."""
    c, e, se = row["channels"], row["expansion"], row["se"] or 0.0
    return (MBConv(c, c, expansion=e, kernel=row["kernel"], se_ratio=se),
            FusedMBConv(c, c, expansion=e, kernel=row["kernel"], se_ratio=se))


def fused_vs_mbconv(model: nn.Module, size: int, batch: int = 4, n_threads: int = 1, repeats=None) -> list:
    """Per block stage of ``model`` at input ``size``: time of MBConv and Fused-MBConv (fwd+bwd).

    Returns rows: stage, channels, expansion, se, feature, params/macs of both, t_mbconv, t_fused
    (seconds) and ratio = t_fused / t_mbconv (< 1: fused is faster).
    """
    from effv2nb.model.arch import stage_table

    rows = []
    for row in stage_table(model, size)[1:-1]:
        h = int(row["feature"].split("x")[0])
        torch.manual_seed(0)
        mb, fu = stage_blocks(row)
        x = torch.randn(batch, row["channels"], h, h)
        out = dict(stage=row["stage"], channels=row["channels"], expansion=row["expansion"], se=row["se"],
                   feature=row["feature"])
        with threads(n_threads):
            for key, blk in (("mbconv", mb), ("fused", fu)):
                blk.train()
                out[f"params_{key}"] = sum(p.numel() for p in blk.parameters())
                out[f"macs_{key}"] = _block_macs(blk, x[:1])
                out[f"t_{key}"] = median_time(fwd_bwd(blk, x), repeats=repeats)
        out["ratio"] = out["t_fused"] / out["t_mbconv"]
        rows.append(out)
    return rows


def _block_macs(block, x):
    from torch.utils.flop_counter import FlopCounterMode

    c = FlopCounterMode(display=False)
    with c, torch.no_grad():
        block.eval()(x)
    block.train()
    return c.get_total_flops() / 2


# ----------------------------------------------------------------------------- whole network

TINY_VARIANTS = {
    # stage 1 is the paper's "MBConv1" (depthwise-separable) or "Fused-MBConv1" (one 3x3 conv);
    # later stages keep tiny's expansion, SE, channels and depth, only the block type changes.
    "all MBConv": [["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e4_c24"], ["ir_r2_k3_s2_e4_c32"],
                   ["ir_r3_k3_s2_e4_c64_se0.25"], ["ir_r2_k3_s1_e6_c72_se0.25"]],
    "stages 1-3 fused": [["cn_r1_k3_s1_e1_c16_skip"], ["er_r2_k3_s2_e4_c24"], ["er_r2_k3_s2_e4_c32"],
                         ["ir_r3_k3_s2_e4_c64_se0.25"], ["ir_r2_k3_s1_e6_c72_se0.25"]],
    "all fused": [["cn_r1_k3_s1_e1_c16_skip"], ["er_r2_k3_s2_e4_c24"], ["er_r2_k3_s2_e4_c32"],
                  ["er_r3_k3_s2_e4_c64_se0.25"], ["er_r2_k3_s1_e6_c72_se0.25"]],
}


def build_variant(name: str, num_classes: int = 10) -> nn.Module:
    """``tiny``'s width and depth with the block types of ``TINY_VARIANTS[name]``."""
    from timm.models._efficientnet_builder import decode_arch_def, round_channels
    from timm.models.efficientnet import EfficientNet

    from effv2nb.model.tiny import TINY_FEATURES, TINY_STEM

    if name not in TINY_VARIANTS:
        raise Effv2nbError(f"unknown variant '{name}'; choose one of {', '.join(TINY_VARIANTS)}")
    return EfficientNet(block_args=decode_arch_def(TINY_VARIANTS[name]), num_classes=num_classes,
                        num_features=TINY_FEATURES, stem_size=TINY_STEM,
                        round_chs_fn=partial(round_channels, multiplier=1.0), act_layer=nn.SiLU)


def train_step_time(model: nn.Module, size: int, batch: int, n_threads: int = 1, repeats=None) -> float:
    """Median time of one training step (forward, cross-entropy, backward, AdamW step)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen)
    y = torch.randint(0, model.num_classes, (batch,), generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    with threads(n_threads):
        return median_time(step, repeats=repeats)


def compare_networks(size: int = 64, batch: int = 64, n_threads: int = 1, repeats=None) -> list:
    """Params, MACs and training-step time of each ``TINY_VARIANTS`` network (same batch, threads)."""
    from effv2nb.model.complexity import count

    rows = []
    for name in TINY_VARIANTS:
        torch.manual_seed(0)
        model = build_variant(name)
        c = count(model, size)
        rows.append(dict(variant=name, params=c["params"], macs=c["macs"],
                         step_s=train_step_time(model, size, batch, n_threads, repeats)))
    return rows


# ----------------------------------------------------------------------------- progressive learning


@dataclass(frozen=True)
class ProgressiveSetting:
    """(start, end) of each quantity; Table 6 of the paper for S, M, L."""

    size: tuple
    randaug: tuple
    mixup: tuple
    dropout: tuple


PAPER_SETTINGS = {
    "S": ProgressiveSetting(size=(128, 300), randaug=(5, 15), mixup=(0.0, 0.0), dropout=(0.1, 0.3)),
    "M": ProgressiveSetting(size=(128, 380), randaug=(5, 20), mixup=(0.0, 0.2), dropout=(0.1, 0.4)),
    "L": ProgressiveSetting(size=(128, 380), randaug=(5, 25), mixup=(0.0, 0.4), dropout=(0.1, 0.5)),
}


def progressive_schedule(stage: int, total_stages: int, setting="S") -> dict:
    """Image size and regularisation for training stage ``stage`` (0-based) of ``total_stages``.

    Algorithm 1 of the paper: S_i = S_0 + (S_e - S_0) * i / (M - 1), and the same linear
    interpolation for each regularisation magnitude (dropout, RandAugment magnitude, mixup alpha).
    ``setting``: 'S', 'M', 'L' or a ``ProgressiveSetting``. Image size is rounded to an integer.
    """
    if isinstance(setting, str):
        if setting not in PAPER_SETTINGS:
            raise Effv2nbError(f"unknown setting '{setting}'; choose S, M, L or pass a ProgressiveSetting")
        setting = PAPER_SETTINGS[setting]
    if total_stages < 1 or not 0 <= stage < total_stages:
        raise Effv2nbError(f"stage {stage} of {total_stages}: need 0 <= stage < total_stages")
    t = stage / (total_stages - 1) if total_stages > 1 else 1.0
    lerp = lambda ab: ab[0] + (ab[1] - ab[0]) * t  # noqa: E731
    return dict(image_size=int(round(lerp(setting.size))), randaug=lerp(setting.randaug),
                mixup=lerp(setting.mixup), dropout=lerp(setting.dropout))


def _stage(epoch: int, epochs: int, total_stages: int) -> int:
    return min(total_stages - 1, epoch * total_stages // epochs)


def epoch_size_schedule(epochs: int, total_stages: int, setting) -> callable:
    """``epoch -> image size``: ``epochs`` split into ``total_stages`` equal stages (for ``train_tiny``)."""
    def size(epoch: int) -> int:
        return progressive_schedule(_stage(epoch, epochs, total_stages), total_stages, setting)["image_size"]
    return size


def epoch_reg_schedule(epochs: int, total_stages: int, setting) -> callable:
    """``epoch -> {"dropout", "augment"}`` for ``train_tiny``: the regularisation half of Algorithm 1.

    The digits have no RandAugment; the setting's ``randaug`` range is used as the strength of
    ``train.augment`` (1.0 = the fixed recipe's shifts, scales and rotations).
    """
    def reg(epoch: int) -> dict:
        p = progressive_schedule(_stage(epoch, epochs, total_stages), total_stages, setting)
        return {"dropout": p["dropout"], "augment": p["randaug"]}
    return reg


# tiny trains and is evaluated at 64 px. Progressive: 32 -> 64 px in 4 stages, with regularisation
# growing alongside (dropout 0 -> 0.1, augmentation strength 0.5 -> 1), so the last stage is exactly
# the fixed recipe (64 px, dropout 0.1, strength 1).
TINY_PROGRESSIVE = ProgressiveSetting(size=(32, 64), randaug=(0.5, 1.0), mixup=(0.0, 0.0), dropout=(0.0, 0.1))


def progressive_experiment(epochs: int | None = None, seeds=None, total_stages: int = 4,
                           setting: ProgressiveSetting = TINY_PROGRESSIVE, progress: bool = False,
                           n_threads: int = 1, log=None) -> list:
    """Train ``tiny`` on the digits with a fixed 64 px size and with a progressive schedule (size and
    regularisation together, Algorithm 1), same epochs (hence the same number of steps) and seeds.
    Rows: schedule, seed, seconds, val_top1, n_val, wrong (validation indices it gets wrong), sizes,
    dropout, augment. Each seed sets the initial weights, the batch order, the augmentation and dropout.
    With fewer epochs than ``total_stages``, there is one stage per epoch. ``log``: where the time
    estimate goes after the first training run (``effv2nb.core.estimate``; ``print`` in notebook 01)."""
    from effv2nb.core.estimate import Estimate
    from effv2nb.model.train import train_tiny

    epochs = sized(8, 2) if epochs is None else epochs
    seeds = sized((0, 1, 2, 3, 4), (0,)) if seeds is None else tuple(seeds)
    total_stages = max(1, min(total_stages, epochs))      # at least one epoch per stage
    schedules = {"fixed 64 px": (None, None),
                 "progressive": (epoch_size_schedule(epochs, total_stages, setting),
                                 epoch_reg_schedule(epochs, total_stages, setting))}
    rows = []
    est = Estimate("the fixed-vs-progressive experiment", len(seeds) * len(schedules), "training run",
                   knobs=[f"progressive_experiment(seeds=...) (now {len(seeds)} seeds)", f"epochs=... (now {epochs})"], log=log or (lambda line: None))
    with threads(n_threads):
        for i, (seed, (name, (size_fn, reg_fn))) in enumerate((s, kv) for s in seeds for kv in schedules.items()):
            with est.timing(i):
                _, hist = train_tiny(epochs=epochs, seed=seed, size_schedule=size_fn, reg_schedule=reg_fn,
                                     progress=progress)
                res = hist[-1]
                rows.append(dict(schedule=name, seed=seed, seconds=res["seconds"], val_top1=res["val_top1"],
                                 n_val=res["n_val"], wrong=res["val_wrong"],
                                 sizes=[h["size"] for h in hist[:-1]],
                                 dropout=[h["dropout"] for h in hist[:-1]],
                                 augment=[h["augment"] for h in hist[:-1]]))
    torch.use_deterministic_algorithms(False)   # train_tiny turns it on globally
    return rows


def summarize(rows: list, key: str) -> dict:
    """schedule -> (mean, spread (max - min), n) of ``key`` over seeds."""
    out = {}
    for name in dict.fromkeys(r["schedule"] for r in rows):
        vals = [r[key] for r in rows if r["schedule"] == name]
        out[name] = (statistics.mean(vals), max(vals) - min(vals), len(vals))
    return out


def binomial_se(top1: float, n: int) -> float:
    """Standard error, in points, of a top-1 rate (%) measured on ``n`` images: 100 sqrt(p (1 - p) / n)."""
    p = top1 / 100.0
    return 100.0 * math.sqrt(max(p * (1.0 - p), 0.0) / n)


def compare_schedules(rows: list, base: str = "fixed 64 px", other: str = "progressive") -> dict:
    """``other`` against ``base`` from ``progressive_experiment`` rows, with the two kinds of noise.

    - ``seed spread``: per schedule ``top1`` (per seed), ``mean``, ``spread`` (max - min over seeds) and
      ``disagree``: validation images that some seeds get right and others wrong (0 would mean the
      seeds did not change the model: a seed that is not applied);
    - ``diffs``: per seed, other - base in points, and ``diff`` their mean;
    - test-set noise: ``diff_se``, the paired standard error of ``diff`` over the ``n_val`` images
      (per image, the share of seeds right with ``other`` minus that with ``base``);
    - ``verdict``: ``"lost"`` / ``"gained"`` when |diff| > 2 diff_se and, with several seeds, every seed
      moved the same way; else ``"within the noise"``.
    """
    seeds = sorted({r["seed"] for r in rows})
    n = rows[0]["n_val"]
    out = {"seeds": seeds, "n_val": n}
    right = {}
    for name in (base, other):
        rs = {r["seed"]: r for r in rows if r["schedule"] == name}
        top1 = [rs[s]["val_top1"] for s in seeds]
        wrong_sets = [set(rs[s]["wrong"]) for s in seeds]
        out[name] = dict(top1=top1, mean=statistics.mean(top1), spread=max(top1) - min(top1),
                         disagree=len(set.union(*wrong_sets) - set.intersection(*wrong_sets)))
        right[name] = [sum(i not in w for w in wrong_sets) / len(seeds) for i in range(n)]
    per_image = [b - a for a, b in zip(right[base], right[other])]
    diffs = [b - a for a, b in zip(out[base]["top1"], out[other]["top1"])]
    diff = 100.0 * statistics.mean(per_image)
    diff_se = 100.0 * (statistics.stdev(per_image) / math.sqrt(n) if n > 1 else 0.0)
    same_way = len(seeds) == 1 or all(d < 0 for d in diffs) or all(d > 0 for d in diffs)
    verdict = ("lost" if diff < 0 else "gained") if abs(diff) > 2 * diff_se and same_way and diff else "within the noise"
    out.update(diffs=diffs, diff=diff, diff_se=diff_se, verdict=verdict)
    return out
