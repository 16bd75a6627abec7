"""effv2nb.quant.reference: the published figures live in one place, agree with the docs, and the
notebooks do not type them again."""
import json
import re

from effv2nb.core.settings import REPO_DIR
from effv2nb.quant import reference


def test_vendor_figures_are_the_docs_reference_numbers():
    docs = (REPO_DIR / "docs" / "vendor-files.md").read_text()
    v = reference.REFERENCE["vendor"]
    row = re.search(r"\| efficientnetv2_rw_t \| ([\d.]+) \| ([\d.]+) \|", docs)
    assert row and tuple(map(float, row.groups())) == v["fp32"]
    device = re.search(r"rw_t: fp16 ([\d.]+) / ([\d.]+), int8 ([\d.]+) / ([\d.]+)", docs)
    assert device and tuple(map(float, device.groups())) == (*v["fp16"], *v["int8"])


def test_rows_and_lines_say_not_measured_here():
    rows = reference.rows()
    assert {(r["source"], r["precision"]) for r in rows} >= {("the vendor's model page", "int8"),
                                                            ("DeepSparkInference (IxRT, published)", "int8")}
    assert all(0 < r["top1"] < r["top5"] <= 100 for r in rows)
    assert not any(r["short"] == "DeepSpark" and r["precision"] == "fp32" for r in rows), "no fp32 figure published"
    lines = reference.lines()
    assert len(lines) == len(reference.REFERENCE) and all("not measured here" in l for l in lines)


def test_notebook_05_does_not_type_the_figures():
    nb = json.loads((REPO_DIR / "notebooks" / "05_accuracy_eval.ipynb").read_text())
    source = "\n".join("".join(c["source"]) for c in nb["cells"])
    for ref in reference.REFERENCE.values():
        for p in reference.PRECISIONS:
            for value in ref.get(p, ()):
                assert f"{value:g}" not in source, (value, "typed into notebook 05: read effv2nb.quant.reference")
