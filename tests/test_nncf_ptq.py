"""NNCF's PTQ as a peer recipe: a QDQ model that runs on both int8 paths, offline, written atomically."""
import io
import os
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from effv2nb.quant import eval_sets, int8_paths as ip, nncf_ptq
from effv2nb.core import metrics
from effv2nb.data import labels
from effv2nb.formats.vdsp import load_vdsp
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR

FP32 = DATA_DIR / "tiny_64.onnx"
N_CALIB = 16


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    work = tmp_path_factory.mktemp("nncf")
    vdsp = load_vdsp(DATA_DIR / "configs/tiny-vdsp_params.json")
    calib = eval_sets.calibration_arrays(DIGITS_DIR / "calib", vdsp, 64, n=N_CALIB)
    ev = eval_sets.load_eval_set(DIGITS_DIR / "val", vdsp, labels.from_txt(DIGITS_DIR / "labels.txt"), 64, limit=40)
    ref = ip.run(FP32, ev.x)
    out = nncf_ptq.quantize_nncf(FP32, work / "nncf.onnx", calib)
    return work, calib, ev, ref, out, dict(nncf_ptq.LAST)


def _ops(path):
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def test_qdq_model_on_both_paths_with_every_calibration_image(env):
    work, calib, ev, ref, out, last = env
    ops = _ops(out)
    assert ops["QuantizeLinear"] >= 20 and ops["DequantizeLinear"] > ops["QuantizeLinear"]  # + int8 weights
    assert last["calibration_items"] == N_CALIB == last["subset_size"]
    s = ip.score(ref, out, ev.x)
    # measured here: exact 20.4 dB, host 20.4 dB, 100 % agreement (16 calibration images, 40 val)
    for path in ip.PATHS:
        assert s[f"{path}_sqnr_db"] >= 15 and s[f"{path}_agreement"] >= 95, (path, ip.summary(s))
    assert metrics.topk_rates(s["logits"]["exact"], ev.y)[0] >= 90


def test_weights_int8_with_a_half_range_first_conv(env):
    """NNCF's defaults as the module documents them: per-channel int8 weights, the stem's 7-bit."""
    m = onnx.load(str(env[4]))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    users = {i: n for n in m.graph.node for i in n.input}
    weights = {users[n.output[0]].name: inits[n.input[0]] for n in m.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8}
    stem = weights.pop("/conv_stem/Conv")
    assert 32 < np.abs(stem.astype(int)).max() <= 64
    assert len(weights) >= 20 and all(np.abs(w.astype(int)).max() == 127 for w in weights.values())
    s = nncf_ptq.settings(subset_size=N_CALIB)
    assert s["preset"] == "performance" and s["overflow_fix"] == "first_layer"
    assert s["nncf"] == nncf_ptq._nncf().__version__


def test_subset_size_and_no_progress_output(env, tmp_path, capfd):
    """No progress bar, not even on a terminal console (as a notebook's) that stdout redirection misses."""
    import rich

    console = rich.get_console()
    saved, screen = dict(console.__dict__), io.StringIO()
    rich.reconfigure(file=screen, force_terminal=True)
    try:
        capfd.readouterr()
        nncf_ptq.quantize_nncf(FP32, tmp_path / "q.onnx", env[1], subset_size=5)
        out, err = capfd.readouterr()
    finally:
        console.__dict__ = saved
    assert nncf_ptq.LAST["calibration_items"] == 5
    assert screen.getvalue() == "" and out + err == "", (screen.getvalue() + out + err)[-300:]


def test_failure_leaves_the_old_file_and_no_partial_one(env, tmp_path):
    target = tmp_path / "mod.onnx"
    target.write_bytes(b"old")
    wrong = [np.zeros((1, 3, 32, 32), np.float32)] * 4     # the model takes 64 x 64
    with pytest.raises(Effv2nbError) as err:
        nncf_ptq.quantize_nncf(FP32, target, wrong)
    assert "NNCF quantization failed" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(Effv2nbError, match="NNCF quantization failed: TypeError"):
        nncf_ptq.quantize_nncf(FP32, target, env[1], no_such_option=1)
    with pytest.raises(Effv2nbError, match="cannot read the ONNX model"):
        nncf_ptq.quantize_nncf(tmp_path / "missing.onnx", target, env[1])
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["mod.onnx"]


def test_interrupted_write_leaves_the_old_file(env, tmp_path, monkeypatch):
    target = tmp_path / "mod.onnx"
    target.write_bytes(b"old")

    def half_then_fail(model, path):
        open(path, "wb").write(model.SerializeToString()[:100])
        raise OSError("disk full")
    monkeypatch.setattr(nncf_ptq.onnx, "save", half_then_fail)
    with pytest.raises(Effv2nbError, match="disk full") as info:   # one line naming the file, not a traceback
        nncf_ptq.quantize_nncf(FP32, target, env[1][:4])
    assert "mod.onnx" in str(info.value)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["mod.onnx"]


def test_accuracy_control_gives_layers_back_to_float(env):
    """Selection images on the fp32 decision boundary (blends of two digits), where int8 flips about half."""
    work, calib, ev, ref, out, last = env
    a, b = ev.x[:20], ev.x[20:40]
    lo, hi, ya = np.zeros(20, np.float32), np.ones(20, np.float32), ip.run(FP32, a).argmax(1)
    for _ in range(12):
        mid = ((lo + hi) / 2)[:, None, None, None]
        same = ip.run(FP32, a * (1 - mid) + b * mid).argmax(1) == ya
        lo, hi = np.where(same, mid[:, 0, 0, 0], lo), np.where(same, hi, mid[:, 0, 0, 0])
    sel = np.concatenate([a * (1 - t[:, None, None, None]) + b * t[:, None, None, None] for t in (lo, hi)])
    sel_ref = ip.run(FP32, sel)
    assert ip.score(sel_ref, out, sel, paths=(ip.EXACT,))["exact_agreement"] < 90
    ac = nncf_ptq.quantize_nncf_ac(FP32, work / "ac.onnx", calib, sel, sel_ref, max_drop=0.0, max_num_iterations=1)
    assert nncf_ptq.LAST["calibration_items"] == N_CALIB
    assert any("reverted back to the floating-point precision" in line for line in nncf_ptq.LAST["log"])
    assert 0 < _ops(ac)["QuantizeLinear"] < _ops(out)["QuantizeLinear"]
    assert ip.score(ref, ac, ev.x)["host_agreement"] >= 95


# Run in a fresh interpreter: NNCF turns its telemetry off by itself whenever pytest is imported.
# An audit hook records and blocks every name lookup, socket connect and urllib request (in forked
# children too), and a dead local proxy catches anything that slips past it.
PROBE = textwrap.dedent("""
    import sys
    events = sys.argv[1]
    def hook(event, args):
        if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.connect", "urllib.Request"):
            with open(events, "a") as f:
                f.write(event + "\\n")
            raise ConnectionRefusedError("network blocked by the test")
    sys.addaudithook(hook)
    from unittest.mock import MagicMock
    import numpy as np
    from effv2nb.quant import nncf_ptq
    if sys.argv[2] == "quantize":
        calib = [np.random.default_rng(i).standard_normal((1, 3, 64, 64), dtype=np.float32) for i in range(4)]
        nncf_ptq.quantize_nncf(sys.argv[3], sys.argv[4], calib)
    else:
        nncf_ptq._nncf().telemetry.telemetry.send_event("effv2nb-test", "probe", "probe")
    from nncf.telemetry import decorator
    print("stub", isinstance(decorator.telemetry, MagicMock))
""")


def _probe(tmp_path, name, nncf_ci, *args):
    home = tmp_path / name
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NNCF_CI", "NNCF_DEV", "CI", "TF_BUILD", "JENKINS_URL", "NO_PROXY", "no_proxy")}
    env.update(HOME=str(home), HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    if nncf_ci is not None:
        env["NNCF_CI"] = nncf_ci
    events = tmp_path / f"{name}.events"
    return home, events, subprocess.Popen([sys.executable, "-c", PROBE, str(events), *args], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_no_network_and_no_client_id(tmp_path):
    home, events, quiet = _probe(tmp_path, "default", None, "quantize", str(FP32), str(tmp_path / "q.onnx"))
    # control: the user keeps NNCF's telemetry (NNCF_CI=""), so the hook must see it try
    c_home, c_events, control = _probe(tmp_path, "control", "", "send")
    out, err = quiet.communicate(timeout=120)
    assert quiet.returncode == 0, err[-2000:]
    assert (out, err) == ("stub True\n", "") and (tmp_path / "q.onnx").is_file()   # quiet, torch's CUDA note too
    assert not events.exists(), events.read_text()
    assert not (home / "intel").exists()
    out, err = control.communicate(timeout=120)
    assert control.returncode == 0, err[-2000:]
    assert "stub False" in out and c_events.exists() and (c_home / "intel").is_dir()
