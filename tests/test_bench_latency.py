"""bench's latency figures are the percentiles of the measured batches: checked on a stand-in clock that
only the runner advances (known durations), so no wall-clock decides the test."""
import random
import re

import numpy as np
import pytest

from effv2nb.bench import timing as bench
from effv2nb.device import runtime
from effv2nb.cli.main import main

WARMUP_MS = 999.0                      # far off: a warm-up counted as a measurement would show in p99


class Clock:
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


class TimedRunner(runtime.Runner):
    """Each ``run`` takes the next duration (ms) on the stand-in clock."""
    input_size = (8, 8)

    def __init__(self, clock, durations_ms):
        self.clock, self.durations = clock, list(durations_ms)

    def run(self, batch):
        self.clock.now += self.durations.pop(0) / 1e3
        return np.zeros((len(batch), 10), np.float32)

    def describe(self):
        return "stand-in runner"


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(bench, "time", c)
    return c


def _durations():
    ms = [float(i) for i in range(1, 101)]        # 1 .. 100 ms, in a shuffled order
    random.Random(0).shuffle(ms)
    return [WARMUP_MS, WARMUP_MS] + ms


def test_percentiles_are_those_of_the_measured_batches(clock):
    t = bench.vamp_run([TimedRunner(clock, _durations())], batch=2, iterations=100, shape=(3, 8, 8), warmup=2)
    assert len(t.latencies) == 100 and max(t.latencies) == pytest.approx(0.100)
    # 1..100 ms, linear interpolation: p50 at rank 49.5, p90 at 89.1, p99 at 98.01
    assert (t.pct(50), t.pct(90), t.pct(99)) == (pytest.approx(50.5), pytest.approx(90.1), pytest.approx(99.01))
    assert t.throughput == pytest.approx(200 / 5.050)                 # 100 batches of 2 in 5.05 s


def test_cli_prints_them(clock, monkeypatch, capsys):
    monkeypatch.setattr(runtime, "open_runner", lambda *a, **k: TimedRunner(clock, _durations()))
    assert main(["bench", "--model-prefix", "unused", "--iterations", "100", "-b", "2", "-s", "3,8,8"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"p50 50\.50 p90 90\.10 p99 99\.01\b", out), out
    assert "throughput: 39.60 images/s" in out
