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
    # int8-report --quick sets EFFV2NB_QUICK=1 in its own process; the context puts the variable back
    # as it was (set or not, any value), so later tests and notebook kernels do not inherit it
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("EFFV2NB_QUICK", "1")
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


def test_prepare_follows_the_size_it_is_given(tmp_path):
    import onnx

    from effv2nb.quant import int8_report

    st = int8_report.prepare("tiny", workdir=tmp_path, size=48, limit=20, num_calib=8, log=lambda _l: None)
    assert st.size == 48 and st.sel.x.shape[1:] == (3, 48, 48) and st.calib[0].shape == (1, 3, 48, 48)
    dims = onnx.load(str(st.fp32)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][-2:] == [48, 48]
    assert st.ref_sel.shape == (len(st.sel), 10)
    # the float bars of notebook 05's top-1 / top-5 chart: fp32 and fp16 on the test fold
    from effv2nb.compile.ort_quantize import convert_fp16
    from effv2nb.core.metrics import topk_rates

    fp32, fp16 = int8_report.float_rows(st, convert_fp16(st.fp32, tmp_path / "fp16.onnx"))
    assert (fp32["recipe"], fp16["recipe"]) == ("fp32", "fp16")
    assert (fp32["top1"], fp32["top5"]) == topk_rates(st.ref_test, st.test.y)
    assert abs(fp16["top1"] - fp32["top1"]) <= 100 / len(st.test) + 1e-9


def test_a_six_synset_folder_splits_with_every_class_in_every_fold(tmp_path):
    from imagenet_path import synset_folder

    from effv2nb.data import folds
    from effv2nb.data.labels import imagenet

    val = synset_folder(tmp_path / "val", classes=6, per_class=5)
    split = folds.make_split(val, imagenet(), None, skip_unknown=True)
    assert split.line() == "split: calibration 6 selection 12 test 12 overlap 0"
    classes = {s.label for s in split["test"]}
    assert len(classes) == 6
    assert all({s.label for s in split[f]} == classes for f in folds.FOLDS)
    # the CI-sized spread (100 images) and a user's EFFV2NB_EVAL_LIMIT keep whole classes when they can
    assert {s.label for s in folds.spread(split["selection"], 100)} == classes
    assert {s.label for s in folds.spread(split["test"], 6)} == classes
