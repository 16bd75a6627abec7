"""effv2nb.core.estimate: the printed time estimate before a long step."""
import time

from effv2nb.core.estimate import Estimate, estimate_line, format_seconds


def test_format_seconds():
    assert format_seconds(42) == "42 s"
    assert format_seconds(210) == "3.5 min"
    assert format_seconds(2 * 3600) == "2.0 h"


def test_estimate_line_scales_the_first_units_to_the_total():
    line = estimate_line("the table", 2.0, 2, 120, "image", ["EFFV2NB_EVAL_LIMIT=N"])
    assert "2.0 min" in line and "120 images" in line and "first 2" in line and "EFFV2NB_EVAL_LIMIT=N" in line


def test_estimate_prints_once_after_the_first_unit():
    said = []
    est = Estimate("sleeping", units=10, unit="nap", knobs=["fewer naps"], log=said.append)
    for i in range(3):
        with est.timing(i):
            time.sleep(0.12 if i == 0 else 0)        # 10 naps: over a second, worth saying
    assert len(said) == 1 and "10 naps" in said[0] and "fewer naps" in said[0]
    assert est.spent >= 0.12



def test_no_estimate_under_a_second():
    from effv2nb.core.estimate import say

    assert estimate_line("a blink", 0.01, 1, 20, "image") is None
    said = []
    assert say("a blink", 0.01, 1, 20, "image", log=said.append) is None and said == []
    est = Estimate("a blink", units=3, log=said.append)
    for i in range(3):
        with est.timing(i):
            pass
    assert said == [] and est.line is None
    assert say("a while", 2.0, 1, 20, "image", log=said.append) and len(said) == 1
