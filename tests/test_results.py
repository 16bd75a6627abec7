"""Result file (docs/vendor-files.md, section "Result file"): exact line format, robust parsing, eval-topk by class index."""
import pytest

from effv2nb.device import evaluate
from effv2nb.data import labels
from effv2nb.formats import result_file as results
from effv2nb.cli.main import main
from effv2nb.core.errors import Effv2nbError


def test_line_format_is_the_seeds():
    line = results.format_line("/d/n01440764/ILSVRC2012_val_00000293.JPEG", 0, 0, 0.5, "tench, Tinca tinca")
    assert line == ("/d/n01440764/ILSVRC2012_val_00000293.JPEG: Relay top-0 id: 0, prob: 0.50000000, "
                    "class name: tench, Tinca tinca")


def test_roundtrip_with_colons_and_blank_lines(tmp_path):
    recs = [results.Record("C:/x: y/3/a.png", [3, 1, 2, 0, 4], [0.9, 0.04, 0.03, 0.02, 0.01],
                           ["three: 3", "one", "two", "zero", "four"]),
            results.Record("/v/7/b.png", [1, 7, 2, 0, 4], [0.5, 0.3, 0.1, 0.05, 0.05], list("17204"))]
    p = results.write(tmp_path / "r.txt", recs)
    p.write_text(p.read_text().replace("\n/v/7", "\n\n\n/v/7"))
    back = results.read(p)
    assert [(r.path, r.ids, r.names) for r in back] == [(r.path, r.ids, r.names) for r in recs]
    assert back[1].line == 8
    lab = labels.Labels(names=tuple("0123456789"))
    t = evaluate.evaluate_records(back, lab)
    assert (t.images, t.top1, t.top5) == (2, 1, 2)
    assert t.line() == "top1_rate: 50 top5_rate: 100"


def test_malformed_line_names_its_number(tmp_path):
    p = tmp_path / "r.txt"
    good = results.format_record("/v/1/a.png", [1, 2], [0.6, 0.4], ["1", "2"])
    p.write_text(good + "\n/v/1/b.png: Relay top-0 id: one, prob: 0.1, class name: 1\n")
    with pytest.raises(Effv2nbError, match="line 4"):
        results.read(p)
    p.write_text(good + "/v/1/c.png: Relay top-1 id: 1, prob: 0.10000000, class name: 1\n")
    with pytest.raises(Effv2nbError, match="line 3.*out of order"):
        results.read(p)


def test_matches_by_index_not_name_and_synsets(tmp_path):
    inet = labels.imagenet()
    syn = inet.synsets[480]
    # the vendor's truncated name at index 480 must not count as wrong
    recs = [results.Record(f"/val/{syn}/x.JPEG", [480, 1, 2, 3, 4], [0.9, 0.025] + [0.025] * 3,
                           ["cash machine", "b", "c", "d", "e"])]
    t = evaluate.evaluate_records(recs, inet)
    assert t.top1 == 1


def test_unknown_folder_is_an_error(tmp_path):
    recs = [results.Record("/val/banana/x.png", [1], [1.0], ["1"], line=5)]
    with pytest.raises(Effv2nbError, match="line 5.*banana"):
        evaluate.evaluate_records(recs, labels.Labels(names=("0", "1")))


def test_eval_topk_cli(tmp_path, capsys):
    p = tmp_path / "r.txt"
    results.write(p, [results.Record("/v/2/a.png", [2, 1, 0, 3, 4], [0.6, 0.1, 0.1, 0.1, 0.1], list("21034")),
                      results.Record("/v/3/b.png", [2, 1, 3, 0, 4], [0.6, 0.1, 0.1, 0.1, 0.1], list("21304")),
                      results.Record("/v/9/c.png", [2, 1, 3, 0, 4], [0.6, 0.1, 0.1, 0.1, 0.1], list("21304"))])
    lt = tmp_path / "labels.txt"
    lt.write_text("\n".join("0123456789") + "\n")
    assert main(["eval-topk", str(p), "--label-txt", str(lt)]) == 0
    assert capsys.readouterr().out.strip() == "top1_rate: 33.333 top5_rate: 66.667"
    p.write_text("garbage\n")
    assert main(["eval-topk", str(p)]) == 2
    assert "line 1" in capsys.readouterr().err
