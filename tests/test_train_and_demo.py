"""The tiny model trains deterministically, and the demo's last line reports its accuracy."""
import subprocess
import sys

import torch

from effv2nb.model.train import train_tiny


def test_training_is_deterministic():
    a, ha = train_tiny(epochs=1, progress=False)
    b, hb = train_tiny(epochs=1, progress=False)
    assert ha[0]["loss"] == hb[0]["loss"]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    # it learned in one epoch: chance is a loss of ln 10 = 2.30 and 10 % top-1 (on 400 images, 30 % is
    # 13 standard errors above chance; one epoch reaches about 39 %)
    assert ha[0]["loss"] < 2.1, ha[0]["loss"]
    assert ha[-1]["val_top1"] >= 30.0, ha[-1]


def test_the_seed_is_applied():
    """Another seed: other initial weights and batches, so another loss and other images wrong."""
    _, h0 = train_tiny(epochs=1, seed=0, progress=False)
    _, h1 = train_tiny(epochs=1, seed=1, progress=False)
    assert h0[0]["loss"] != h1[0]["loss"]
    assert set(h0[-1]["val_wrong"]) != set(h1[-1]["val_wrong"])
    assert len(h0[-1]["val_wrong"]) == round((100 - h0[-1]["val_top1"]) * h0[-1]["n_val"] / 100)


def test_demo_last_line():
    out = subprocess.run([sys.executable, "-m", "effv2nb", "demo"], capture_output=True, text=True, check=True)
    last = out.stdout.strip().splitlines()[-1]
    parts = last.split()
    assert parts[0] == "top1_rate:" and parts[2] == "top5_rate:"
    assert float(parts[1]) >= 97.0 and float(parts[3]) >= float(parts[1])


def test_cli_error_is_one_line_without_traceback():
    out = subprocess.run([sys.executable, "-m", "effv2nb", "demo", "--weights", "/no/such.pth"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "/no/such.pth" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
