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
    assert ha[0]["loss"] < 2.31  # it learned something in one epoch (chance level is ln 10 = 2.30 + smoothing)


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
