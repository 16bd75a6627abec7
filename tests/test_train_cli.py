"""``train-tiny`` end to end: one epoch into a temporary folder writes the digit image folders, labels.txt,
the weights and their checksum, and ``models.load`` accepts the weights."""
import hashlib

import torch

from effv2nb.data import digits
from effv2nb.model import models
from effv2nb.cli.main import main


def test_train_tiny_one_epoch(tmp_path, capsys, one_thread):
    data, out = tmp_path / "digits", tmp_path / "w" / "tiny.safetensors"
    assert main(["train-tiny", "--epochs", "1", "--out", str(out), "--data-dir", str(data)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1].startswith("top1_rate: ")

    assert (data / "labels.txt").read_text().split() == digits.LABELS
    for split, n in (("calib", digits.N_CALIB), ("val", digits.N_VAL)):
        folders = sorted(p.name for p in (data / split).iterdir())
        assert folders == digits.LABELS
        assert sum(len(list((data / split / c).glob("*.png"))) for c in folders) == n

    digest, name = (out.parent / (out.name + ".sha256")).read_text().split()
    assert name == out.name and digest == hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.safetensors", "tiny.safetensors.sha256"]

    m = models.load("tiny", weights=str(out))
    info = models.info(m)
    assert info.trained and str(out) in info.weights
    with torch.no_grad():
        assert m(torch.zeros(1, 3, 64, 64)).shape == (1, 10)
