"""plots: notebook 06's figures carry what the results say (one point per recipe, the fp32 line, the two
shares per op type), drawn from rows, not typed in."""
import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from effv2nb.bench import graph_flops, plots  # noqa: E402

ROWS = [{"layout": "fp32", "precision": "fp32", "speedup_vs_fp32": 1.0, "speedup_min": 1.0, "speedup_max": 1.0,
         "sqnr_db": float("inf")},
        {"layout": "all int8", "precision": "int8", "speedup_vs_fp32": 1.5, "speedup_min": 1.4, "speedup_max": 1.7,
         "sqnr_db": 25.0},
        {"layout": "SE in float", "precision": "int8", "speedup_vs_fp32": 1.2, "speedup_min": 1.1, "speedup_max": 1.3,
         "sqnr_db": 27.0},
        {"layout": "fp16", "precision": "fp16", "speedup_vs_fp32": 0.9, "speedup_min": 0.8, "speedup_max": 1.0,
         "sqnr_db": 60.0}]


def test_speed_vs_sqnr(tmp_path):
    fig = plots.speed_vs_sqnr(ROWS)
    ax = fig.axes[0]
    points = [(l.get_xdata()[0], l.get_ydata()[0]) for l in ax.lines
              if l.get_linestyle() == "None" and l.get_marker() != "_"]   # not the whiskers' caps
    assert sorted(points) == sorted((r["sqnr_db"], r["speedup_vs_fp32"]) for r in ROWS[1:])
    hlines = [l for l in ax.lines if l.get_linestyle() == "--"]
    assert len(hlines) == 1 and hlines[0].get_ydata()[0] == 1.0            # the fp32 reference
    whiskers = sorted(tuple(round(float(v), 6) for v in np.asarray(seg)[:, 1]) for c in ax.collections for seg in c.get_segments())
    assert whiskers == sorted((r["speedup_min"], r["speedup_max"]) for r in ROWS[1:])   # the rounds' spread
    assert ax.get_ylim()[0] == 0                                                        # from 0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["all int8 (int8)", "SE in float (int8)", "fp16 (fp16)"]
    lo, hi = ax.get_xlim()
    assert lo < 25.0 and hi > 60.0
    fig.savefig(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    plt.close(fig)


def test_time_vs_flop_share():
    share = graph_flops.shares({"Conv": 98.0, graph_flops.SILU: 2.0}, {"Conv": 6.0, "QuickGelu": 4.0})
    fig = plots.time_vs_flop_share(share, {"QLinearConv": 3.0, "QuantizeLinear": 1.0})
    ax, ax2 = fig.axes
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == sorted([98.0, 2.0, 60.0, 40.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == [graph_flops.SILU, "Conv"]   # largest time share on top
    assert sorted(p.get_width() for p in ax2.patches) == [1.0, 3.0]
    plt.close(fig)


def test_throughput_and_latency():
    rows = [{"name": "a", "batch": 1, "samples": [0.001, 0.002], "images_per_s": 12.0},
            {"name": "a", "batch": 8, "samples": [0.01], "images_per_s": 800.0}]
    fig = plots.throughput_and_latency({"a": [10.0, 20.0]}, (1, 2), rows)
    ax1, ax2 = fig.axes
    assert list(ax1.lines[0].get_ydata()) == [10.0, 20.0]
    record = [(l.get_xdata()[0], l.get_ydata()[0]) for l in ax1.lines[1:]]
    assert record == [(1, 12.0)], "the table of record's point at a batch the curve has, none at batch 8"
    assert ax1.get_ylim()[0] == 0
    assert [t.get_text() for t in ax2.get_xticklabels()] == ["a"]          # batch-1 rows only
    assert ax2.get_yscale() == "log"
    plt.close(fig)
