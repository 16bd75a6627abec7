"""eval-topk reads class folders the same way with or without --label-txt (a synset is a synset, also
with the vendor's own ImageNet label list), and never prints a metric the file cannot carry."""
import pytest

from effv2nb.data import datasets, labels
from effv2nb.device import evaluate
from effv2nb.formats import result_file as results
from effv2nb.cli.main import main

VENDOR_480 = "cash machine, cash dispenser, automated teller machine, automatic teller machine, automated teller"


@pytest.fixture(scope="module")
def inet():
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return list(info.label_names()), [info.index_to_description(i) for i in range(1000)]


@pytest.fixture
def vendor_label_txt(inet, tmp_path):
    """The vendor's ``imagenet.txt`` layout: 1000 names in index order, index 480 cut short as theirs is."""
    names = list(inet[1])
    names[480] = VENDOR_480
    p = tmp_path / "imagenet.txt"
    p.write_text("\n".join(names) + "\n")
    return p


# 11 images of an ImageNet-layout folder: (class index, rank of the true class in the prediction or None)
IMAGES = [(0, 0), (1, 0), (480, 0), (999, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 4), (7, None), (8, None)]


def _imagenet_result(tmp_path, synsets, per_image=5):
    recs = []
    for n, (c, rank) in enumerate(IMAGES):
        others = [i for i in range(10, 1000) if i != c][n * 7:n * 7 + per_image]
        ids = others[:per_image]
        if rank is not None and rank < per_image:
            ids[rank] = c
        recs.append((f"/data/ILSVRC2012_img_val/{synsets[c]}/ILSVRC2012_val_{n:08d}.JPEG", ids,
                     [0.5] + [0.1] * (per_image - 1), ["x"] * per_image))
    p = tmp_path / "result.txt"
    results.write(p, recs)
    return p


def _independent_count(path, synsets, k=5):
    """The vendor's way, by index instead of name: lines grouped by image, truth from the synset folder."""
    groups = {}
    for line in path.read_text().splitlines():
        img, rest = line.split(": Relay top-", 1)
        groups.setdefault(img, []).append(int(rest.split(" id: ")[1].split(",")[0]))
    index = {s: i for i, s in enumerate(synsets)}
    truth = {img: index[img.split("/")[-2]] for img in groups}
    top1 = sum(ids[0] == truth[img] for img, ids in groups.items())
    topk = sum(truth[img] in ids[:k] for img, ids in groups.items())
    return round(100 * top1 / len(groups), 3), round(100 * topk / len(groups), 3)


def test_imagenet_layout_same_figures_with_and_without_vendor_label_list(inet, vendor_label_txt, tmp_path, capsys):
    synsets = inet[0]
    res = _imagenet_result(tmp_path, synsets)
    assert _independent_count(res, synsets) == (36.364, 81.818)
    assert main(["eval-topk", str(res)]) == 0
    plain = capsys.readouterr().out.strip()
    assert main(["eval-topk", str(res), "--label-txt", str(vendor_label_txt)]) == 0
    with_list = capsys.readouterr().out.strip()
    assert plain == with_list == "top1_rate: 36.364 top5_rate: 81.818"


def test_folder_datasets_read_synsets_with_the_vendor_list(inet, vendor_label_txt, tmp_path):
    synsets = inet[0]
    for c in (0, 480, 999):
        (tmp_path / "val" / synsets[c]).mkdir(parents=True)
        (tmp_path / "val" / synsets[c] / "a.JPEG").write_bytes(b"")
    a = datasets.folder_samples(tmp_path / "val", labels.from_txt(vendor_label_txt))
    b = datasets.folder_samples(tmp_path / "val", labels.imagenet())
    assert [s.label for s in a] == [s.label for s in b] == [0, 480, 999]


def test_synset_folder_with_few_classes_names_why(inet, tmp_path, capsys):
    p = tmp_path / "r.txt"
    results.write(p, [(f"/val/{inet[0][3]}/a.JPEG", [3, 1], [0.6, 0.4], ["3", "1"])])
    lt = tmp_path / "ten.txt"
    lt.write_text("\n".join(inet[1][:10]) + "\n")
    assert main(["eval-topk", str(p), "--label-txt", str(lt)]) == 2
    err = capsys.readouterr().err
    assert "is an ImageNet synset, but" in err and "has 10 classes, not ImageNet's 1000" in err, err


# ---------------------------------------------------------------- metrics the file cannot carry
@pytest.mark.parametrize("per_image,line", [
    (1, "top1_rate: 36.364"),
    (3, "top1_rate: 36.364 top3_rate: 54.545"),
    (4, "top1_rate: 36.364 top4_rate: 63.636"),
    (5, "top1_rate: 36.364 top5_rate: 81.818"),
    (7, "top1_rate: 36.364 top5_rate: 81.818"),      # more than five: top-5 counts the first five only
])
def test_printed_topk_is_what_the_file_carries(per_image, line, inet, tmp_path, capsys):
    res = _imagenet_result(tmp_path, inet[0], per_image=per_image)
    assert main(["eval-topk", str(res)]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == line
    k = min(per_image, 5)
    assert _independent_count(res, inet[0], k)[1 if k > 1 else 0] == float(line.split()[-1])
    if per_image < 5:
        assert "top5_rate" not in cap.out
        assert f"{per_image} prediction(s) per image; top-5 needs 5" in cap.err and cap.err.count("\n") == 1
    else:
        assert cap.err == ""


def test_topk_object_names_its_width():
    t = evaluate.TopK(images=4, top1=1, top5=3, per_image=2)
    assert t.k == 2 and t.line() == "top1_rate: 25 top2_rate: 75" and "top-2 is printed" in t.note()
