"""effv2nb.model.paper: progressive schedule, network variants, timing helpers."""
import pytest
import torch

from effv2nb.model import paper
from effv2nb.model.blocks import block_kind
from effv2nb.core.errors import Effv2nbError
from effv2nb.model.tiny import build_tiny


@pytest.mark.parametrize("setting,first,last", [
    ("S", dict(image_size=128, randaug=5, mixup=0, dropout=0.1), dict(image_size=300, randaug=15, mixup=0, dropout=0.3)),
    ("M", dict(image_size=128, randaug=5, mixup=0, dropout=0.1), dict(image_size=380, randaug=20, mixup=0.2, dropout=0.4)),
    ("L", dict(image_size=128, randaug=5, mixup=0, dropout=0.1), dict(image_size=380, randaug=25, mixup=0.4, dropout=0.5)),
])
def test_progressive_endpoints(setting, first, last):
    assert paper.progressive_schedule(0, 4, setting) == pytest.approx(first)
    assert paper.progressive_schedule(3, 4, setting) == pytest.approx(last)


def test_progressive_is_linear():
    mids = [paper.progressive_schedule(i, 5, "L") for i in range(5)]
    steps = [b["dropout"] - a["dropout"] for a, b in zip(mids, mids[1:])]
    assert steps == pytest.approx([0.1] * 4)
    assert [m["image_size"] for m in mids] == [128, 191, 254, 317, 380]
    assert paper.progressive_schedule(0, 1, "S")["image_size"] == 300


def test_progressive_errors():
    with pytest.raises(Effv2nbError):
        paper.progressive_schedule(4, 4)
    with pytest.raises(Effv2nbError):
        paper.progressive_schedule(0, 4, "XL")


def test_epoch_size_schedule():
    fn = paper.epoch_size_schedule(8, 4, paper.TINY_PROGRESSIVE)
    assert [fn(e) for e in range(8)] == [32, 32, 43, 43, 53, 53, 64, 64]


def test_variants_have_the_announced_blocks():
    kinds = {name: [block_kind(s[0]) for s in paper.build_variant(name).blocks] for name in paper.TINY_VARIANTS}
    assert kinds["all MBConv"] == ["MBConv"] * 5
    assert kinds["stages 1-3 fused"] == ["Fused-MBConv"] * 3 + ["MBConv"] * 2
    assert kinds["all fused"] == ["Fused-MBConv"] * 5
    ref = {k: v.shape for k, v in build_tiny().state_dict().items()}
    assert {k: v.shape for k, v in paper.build_variant("stages 1-3 fused").state_dict().items()} == ref


def test_fused_vs_mbconv_rows_on_tiny():
    rows = paper.fused_vs_mbconv(build_tiny().eval(), 64, batch=2, repeats=1)
    assert [r["stage"] for r in rows] == [1, 2, 3, 4, 5]
    for r in rows:
        assert r["t_fused"] > 0 and r["t_mbconv"] > 0 and r["ratio"] == r["t_fused"] / r["t_mbconv"]
        assert r["macs_fused"] > r["macs_mbconv"]


def test_median_time_and_threads():
    calls = []
    assert paper.median_time(lambda: calls.append(1), warmup=2, repeats=3) >= 0
    assert len(calls) == 5
    before = torch.get_num_threads()
    with paper.threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_progressive_regularisation_schedule_ends_at_the_fixed_recipe():
    reg = paper.epoch_reg_schedule(8, 4, paper.TINY_PROGRESSIVE)
    size = paper.epoch_size_schedule(8, 4, paper.TINY_PROGRESSIVE)
    assert [size(e) for e in (0, 7)] == [32, 64]
    assert reg(0) == pytest.approx({"dropout": 0.0, "augment": 0.5})
    assert reg(7) == pytest.approx({"dropout": 0.1, "augment": 1.0})


def test_progressive_experiment_rows_and_estimate(one_thread):
    """Both schedules per seed, the progressive one from 32 px to 64 px; one estimate line after the first run."""
    from effv2nb.model import paper

    said = []
    rows = paper.progressive_experiment(epochs=2, seeds=(0,), log=said.append)
    assert [r["schedule"] for r in rows] == ["fixed 64 px", "progressive"]
    assert rows[1]["sizes"] == [32, 64] and set(rows[0]["sizes"]) == {64}
    assert len(said) == 1 and "2 training runs" in said[0] and "seeds" in said[0]
    for r in rows:   # the image-by-image result that compare_schedules needs
        assert r["n_val"] == 400 and len(r["wrong"]) == round((100 - r["val_top1"]) * 4)


def _rows(top1s, wrongs, n=400):
    return [dict(schedule=name, seed=s, val_top1=t, n_val=n, wrong=w)
            for name, ts, ws in zip(("fixed 64 px", "progressive"), top1s, wrongs) for s, (t, w) in enumerate(zip(ts, ws))]


def test_compare_schedules_separates_seed_spread_from_test_set_noise():
    from effv2nb.model import paper

    # same top-1 for every seed, but different images wrong: the seeds changed the models
    fixed = [[1, 2], [2, 3], [1, 3]]
    prog = [list(range(10, 22)), list(range(12, 24)), list(range(14, 26))]
    c = paper.compare_schedules(_rows(([99.5] * 3, [97.0] * 3), (fixed, prog)))
    assert c["fixed 64 px"]["spread"] == 0 and c["fixed 64 px"]["disagree"] == 3
    assert c["progressive"]["disagree"] == 16 - 8          # union 10-25, intersection 14-21
    assert c["diffs"] == [-2.5] * 3 and c["diff"] == pytest.approx(-2.5)
    assert 0.4 < c["diff_se"] < 1.0 and c["verdict"] == "lost"
    # a 0.25-point gap on 400 images is within the test set's noise, whatever the seeds say
    near = paper.compare_schedules(_rows(([99.5] * 3, [99.25] * 3), (fixed, [[1, 2, 7], [2, 3, 8], [1, 3, 9]])))
    assert near["verdict"] == "within the noise" and near["diff"] == pytest.approx(-0.25)
    # seeds that disagree on the sign: no claim either
    mixed = paper.compare_schedules(_rows(([99.5, 99.5], [97.0, 99.75]), (fixed[:2], [prog[0], [5]])))
    assert mixed["verdict"] == "within the noise"
    assert paper.binomial_se(97.0, 400) == pytest.approx(100 * (0.97 * 0.03 / 400) ** 0.5)
