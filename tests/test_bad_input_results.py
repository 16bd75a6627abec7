"""Issue 7, result files: malformed files give one line naming the file and line, in the parser and
through ``eval-topk`` (exit 2, no traceback). The happy path is tested in test_results.py."""
import pytest

from effv2nb.device import evaluate
from effv2nb.data import labels
from effv2nb.formats import result_file as results
from effv2nb.cli.main import main
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DIGITS_DIR

LABELS = DIGITS_DIR / "labels.txt"


def _rec(path, ids):
    return results.format_record(path, ids, [0.5, 0.2, 0.1, 0.1, 0.1][:len(ids)], [str(i) for i in ids])


GOOD = _rec("/v/1/a.png", [1, 2, 3, 4, 5]) + _rec("/v/2/b.png", [2, 1, 3, 4, 5])

CASES = {
    # name: (text, line, words in the message)
    "group_of_four": (GOOD + _rec("/v/3/c.png", [3, 1, 2, 4]), 11, ["/v/3/c.png", "4 result line", "have 5"]),
    "group_of_four_first": (_rec("/v/3/c.png", [3, 1, 2, 4]) + GOOD, 1, ["4 result line"]),
    "non_numeric_id": (GOOD.replace("top-2 id: 3,", "top-2 id: three,", 1), 3, ["class id 'three'"]),
    "negative_id": (GOOD.replace("top-0 id: 1,", "top-0 id: -1,", 1), 1, ["class id '-1'"]),
    "id_too_long": (GOOD.replace("top-0 id: 1,", "top-0 id: " + "9" * 5000 + ",", 1), 1, ["class id"]),
    "bad_prob": (GOOD.replace("prob: 0.50000000", "prob: 0.5.0", 1), 1, ["prob '0.5.0'"]),
    "not_a_result_line": ("".join(GOOD.splitlines(True)[:2]) + "hello world\n", 3, ["not a result line"]),
    "header_line": ("image, top1, top5\n" + GOOD, 1, ["not a result line"]),
    "out_of_order": (GOOD.replace("top-1 id: 2,", "top-3 id: 2,", 1), 2, ["out of order"]),
}


@pytest.mark.parametrize("case", CASES)
def test_parser_names_the_line(case):
    text, line, words = CASES[case]
    with pytest.raises(Effv2nbError) as exc:
        results.parse_text(text, "r.txt")
    msg = str(exc.value)
    assert exc.value.where == f"line {line}" and msg.startswith(f"r.txt: line {line}: ") and "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    assert len(msg) < 400


@pytest.mark.parametrize("case", CASES)
def test_eval_topk_cli_exit_2(case, tmp_path, capsys):
    p = tmp_path / "result.txt"
    p.write_text(CASES[case][0])
    assert main(["eval-topk", str(p), "--label-txt", str(LABELS)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {p}: line {CASES[case][1]}: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("bad_id,line", [(10, 1), (999, 7)])
def test_id_not_below_number_of_classes(bad_id, line, tmp_path, capsys):
    p = tmp_path / "result.txt"
    if line == 1:
        p.write_text(GOOD.replace("top-0 id: 1,", f"top-0 id: {bad_id},", 1))
    else:
        p.write_text(GOOD.replace("top-1 id: 1,", f"top-1 id: {bad_id},", 1))
    assert results.read(p)                                   # a well-formed file ...
    assert main(["eval-topk", str(p), "--label-txt", str(LABELS)]) == 2   # ... for another model
    err = capsys.readouterr().err
    assert err.startswith(f"error: {p}: line {line}: class id {bad_id} is out of range") and "10 classes" in err
    with pytest.raises(Effv2nbError, match=f"line {line}"):
        evaluate.evaluate_records(results.read(p), labels.from_txt(LABELS), p)


def test_consistent_short_groups_are_fine():
    """A 3-class model writes three lines per image: consistent groups are not an error."""
    text = _rec("/v/1/a.png", [1, 0, 2]) + _rec("/v/2/b.png", [2, 1, 0])
    recs = results.parse_text(text)
    assert [len(r.ids) for r in recs] == [3, 3]


@pytest.mark.parametrize("data,needle", [
    (b"\xff\xfe\x00binary\x00" * 10, "cannot read result file: not UTF-8"),
    (b"", "holds no results"),
    (b"\n\n  \n", "holds no results"),
])
def test_unreadable_or_empty_result_file(data, needle, tmp_path, capsys):
    p = tmp_path / "result.txt"
    p.write_bytes(data)
    assert main(["eval-topk", str(p), "--label-txt", str(LABELS)]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(p) in err and err.count("\n") == 1, err
