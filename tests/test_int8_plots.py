"""effv2nb.quant.int8_plots: the pictures are drawn from the rows they are given."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from effv2nb.quant import int8_plots, reference  # noqa: E402


def _heights(ax):
    return [round(p.get_height(), 6) for p in ax.patches]


def test_topk_draws_measured_and_reference_apart():
    measured = [{"recipe": "fp32", "top1": 99.0, "top5": 100.0}, {"recipe": "fp16", "top1": 98.5, "top5": 100.0},
                {"recipe": "best", "top1": 97.25, "top5": 99.5}]
    left, right = int8_plots.plot_topk(measured, reference.rows(), "measured here (tiny on 3 images)",
                                       "reference (rw_t on ImageNet, not measured here)")
    assert _heights(left) == [99.0, 98.5, 97.25, 100.0, 100.0, 99.5]        # top-1 bars, then top-5 bars
    ref = reference.rows()
    assert _heights(right) == [r["top1"] for r in ref] + [r["top5"] for r in ref]
    assert "measured here" in left.get_title() and "not measured here" in right.get_title()
    labels = [t.get_text() for t in left.get_xticklabels()]
    assert labels == ["fp32", "fp16", "int8 best"]
    assert left.get_ylim()[0] == 90.0 and right.get_ylim()[0] == 70.0     # axis cut below the lowest bar
    plt.close("all")


def test_topk_on_random_weights_starts_at_zero():
    left, _ = int8_plots.plot_topk([{"recipe": "fp32", "top1": 0.0, "top5": 0.0}], reference.rows(), "m", "r")
    assert left.get_ylim()[0] == 0.0
    plt.close("all")


def test_steps_plot_one_point_per_step_and_the_target():
    steps = [{"step": 0, "kept_float": [], "sqnr_db": 25.0, "host_sqnr_db": 24.0},
             {"step": 1, "kept_float": ["head"], "sqnr_db": 29.0, "host_sqnr_db": 29.5},
             {"step": 2, "kept_float": ["head", "all SE"], "sqnr_db": 32.0, "host_sqnr_db": 31.0}]
    ax = int8_plots.plot_steps(steps, 31.0)
    exact, host, target = ax.get_lines()
    assert list(exact.get_ydata()) == [25.0, 29.0, 32.0] and list(host.get_ydata()) == [24.0, 29.5, 31.0]
    assert list(target.get_ydata()) == [31.0, 31.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["start", "+ head", "+ all SE"]
    plt.close("all")
