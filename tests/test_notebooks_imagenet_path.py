"""CI runs notebooks 02-06 on the ImageNet models' path, as a user with rw_t weights and a validation folder does.

Offline, the inputs are made here (``tests/imagenet_path.py``): a synset-layout folder of JPEGs and seeded
random ``efficientnetv2_rw_t`` weights, loaded through ``EFFV2NB_WEIGHTS`` like a user's checkpoint.
``EFFV2NB_SIZE=128`` and CI-sized loops (``EFFV2NB_QUICK=1``) keep it short on 2 cores; the code path is
the user's. The notebooks run with ``tools/execute_notebooks.py`` (the command that stores them), not
nbval: their stored outputs are the ``tiny`` run's, so nothing is compared, every cell must run.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagenet_path import CI_SIZE, MODEL, imagenet_env

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    return imagenet_env(tmp_path_factory.mktemp("imagenet"))


def outputs_text(path) -> str:
    nb = json.loads(Path(path).read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.parametrize("notebook", ["02", "03", "04", "05", "06"])
def test_notebook_runs_to_the_end_on_rw_t(notebook, imagenet, tmp_path):
    # notebook 05's emulated AVX2 run is skipped here (its own knob): under qemu rw_t takes 2.5 min for one image,
    # and the same code runs in every pytest on tiny (nbval) and in tests/test_int8_guard.py
    env = {**imagenet, "EFFV2NB_WORK": str(tmp_path / "work"), "EFFV2NB_EMULATED_IMAGES": "0"}
    cmd = [sys.executable, str(REPO / "tools" / "execute_notebooks.py"), notebook, "--quick", "--no-store",
           "--output-dir", str(tmp_path)]
    for k, v in env.items():
        cmd += ["--env", f"{k}={v}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    text = outputs_text(next(tmp_path.glob(f"{notebook}_*.ipynb")))
    assert f"model:   {MODEL} @ {CI_SIZE}px" in text, "the banner shows the model at EFFV2NB_SIZE"
    assert "seeded random weights" in text
