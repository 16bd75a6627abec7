"""python -m effv2nb int8-report --model tiny --quick: the lines it prints and the targets it meets."""
import re

import pytest

from effv2nb.cli import main as cli

LINE = re.compile(r"recipe: (\S+) exact_sqnr_db: (\S+) host_sqnr_db: (\S+) agreement: (\S+) top1: (\S+) "
                  r"images_per_s: (\S+) compile_s: (\S+)$")


@pytest.fixture(scope="module")
def report_lines():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["int8-report", "--model", "tiny", "--quick"])
    assert rc == 0
    return out.getvalue().splitlines()


def _rows(lines):
    rows = {}
    for line in lines:
        m = LINE.match(line)
        if m:
            name, *vals = m.groups()
            rows[name] = dict(zip(("exact", "host", "agree", "top1", "ips", "secs"), map(float, vals)))
    return rows


def test_split_line_reports_disjoint_folds(report_lines):
    split = next(l for l in report_lines if l.startswith("split: "))
    m = re.fullmatch(r"split: calibration (\d+) selection (\d+) test (\d+) overlap (\d+)", split)
    assert m and int(m.group(4)) == 0 and all(int(g) > 0 for g in m.groups()[:3])
    assert any(l.startswith("CPU: ") and "VNNI" in l for l in report_lines)


def test_every_recipe_has_its_line(report_lines):
    rows = _rows(report_lines)
    assert set(rows) == {"stock", "nncf", "best_int8", "best", "nncf_ac"}, report_lines
    assert all(r["ips"] > 0 and r["secs"] > 0 and 0 <= r["top1"] <= 100 for r in rows.values())


def test_targets_on_the_test_fold(report_lines):
    rows = _rows(report_lines)
    best, best_int8, nncf = rows["best"], rows["best_int8"], rows["nncf"]
    assert best["exact"] >= 30 and best["host"] >= 29, best
    assert best_int8["exact"] >= nncf["exact"] + 3, (best_int8, nncf)
    assert best["agree"] >= 99.0
