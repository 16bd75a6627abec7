"""Weight resolution: every branch of models.load, and loading never runs checkpoint code."""
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from effv2nb.model import models
from effv2nb.core.errors import Effv2nbError
from effv2nb.core.settings import TINY_WEIGHTS
from effv2nb.model.tiny import build_tiny


@pytest.fixture
def tiny_state():
    torch.manual_seed(1)
    return build_tiny().state_dict()


def _first_param(model):
    return next(iter(model.state_dict().values()))


@pytest.mark.parametrize("wrapper", [None, "state_dict", "state_dict_ema", "model"])
@pytest.mark.parametrize("suffix", [".pth", ".pt"])
def test_explicit_torch_checkpoint(tmp_path, tiny_state, wrapper, suffix):
    path = tmp_path / f"ckpt{suffix}"
    obj = tiny_state if wrapper is None else {wrapper: tiny_state, "epoch": 3}
    if wrapper == "state_dict_ema":  # EMA weights win over the raw ones, as in timm checkpoints
        obj["state_dict"] = {k: torch.zeros_like(v) for k, v in tiny_state.items()}
    torch.save(obj, path)
    m = models.load("tiny", weights=str(path))
    assert torch.equal(_first_param(m), next(iter(tiny_state.values())))
    assert models.info(m).trained and str(path) in models.info(m).weights


def test_explicit_safetensors_and_module_prefix(tmp_path, tiny_state):
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(path))
    assert models.info(models.load("tiny", weights=path)).trained
    path2 = tmp_path / "ddp.pth"
    torch.save({"module." + k: v for k, v in tiny_state.items()}, path2)
    models.load("tiny", weights=path2)


def test_env_variable(tmp_path, tiny_state, monkeypatch):
    path = tmp_path / "env.pth"
    torch.save(tiny_state, path)
    monkeypatch.setenv(models.WEIGHTS_ENV, str(path))
    m = models.load("tiny")
    assert models.WEIGHTS_ENV in models.info(m).weights
    assert torch.equal(_first_param(m), next(iter(tiny_state.values())))


def test_bundled_tiny_and_random(monkeypatch):
    monkeypatch.delenv(models.WEIGHTS_ENV, raising=False)
    m = models.load("tiny")
    assert models.info(m).trained and "bundled" in models.info(m).weights
    r = models.load("tiny", weights="random")
    assert not models.info(r).trained and "RANDOM" in models.info(r).weights_warning


def test_bundled_weights_match_their_checksum():
    from effv2nb.core.checksums import file_sha256 as sha256

    recorded = (TINY_WEIGHTS.parent / (TINY_WEIGHTS.name + ".sha256")).read_text().split()[0]
    assert sha256(TINY_WEIGHTS) == recorded
    assert TINY_WEIGHTS.stat().st_size <= 2 * 1024 * 1024


def test_timm_model_offline_is_random_and_fast(monkeypatch):
    monkeypatch.delenv(models.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", "/nonexistent-cache")
    m = models.load("efficientnetv2_rw_t")
    i = models.info(m)
    assert not i.trained and "random" in i.weights and i.input_size == 288 and i.num_classes == 1000


def test_hub_probe_answers_from_one_short_connection(monkeypatch):
    """No network: the socket is a stand-in. The probe opens one TCP connection to the hub's host on port
    443 with the short timeout, and answers whether it opened; offline mode asks nothing."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    calls = []

    class _Conn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def answer(result):
        def create_connection(address, timeout=None):
            calls.append((address, timeout))
            if isinstance(result, Exception):
                raise result
            return _Conn()
        return create_connection

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models.socket, "create_connection", answer(None))
    assert models._hub_reachable() is True
    assert calls == [((urlparse(constants.ENDPOINT).hostname, 443), models.HUB_TIMEOUT_S)]
    for failure in (socket.timeout("timed out"), ConnectionRefusedError(111, "refused"), socket.gaierror(-2, "no")):
        monkeypatch.setattr(models.socket, "create_connection", answer(failure))
        assert models._hub_reachable() is False, failure
    calls.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models.socket, "create_connection", answer(None))
    assert models._hub_reachable() is False and calls == []


def test_timm_cache_branch(tmp_path, monkeypatch):
    import timm

    monkeypatch.delenv(models.WEIGHTS_ENV, raising=False)
    ref = timm.create_model("efficientnetv2_rw_t")
    hub_id = ref.pretrained_cfg["hf_hub_id"]
    snap = tmp_path / f"models--{hub_id.replace('/', '--')}" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc123")
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(snap / "model.safetensors"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    m = models.load("efficientnetv2_rw_t")
    assert models.info(m).trained and "local hub cache" in models.info(m).weights
    assert torch.equal(_first_param(m), _first_param(ref))


def test_hub_download_branch_is_taken_when_reachable(monkeypatch):
    import timm

    calls = []
    real_create = timm.create_model

    def fake_create(name, pretrained=False, **kw):
        calls.append(pretrained)
        return real_create(name, pretrained=False, **kw)

    monkeypatch.delenv(models.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", "/nonexistent-cache")
    monkeypatch.setattr(models, "_hub_reachable", lambda: True)
    monkeypatch.setattr(timm, "create_model", fake_create)
    m = models.load("efficientnetv2_rw_t")
    assert calls[-1] is True and "downloaded" in models.info(m).weights


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    _Evil.marker = marker
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Evil()}, f)
    with pytest.raises(Effv2nbError, match="refused"):
        models.load("tiny", weights=path)
    assert not marker.exists(), "the checkpoint's code ran"


def test_other_architecture_is_named_and_counted(tmp_path):
    import timm

    path = tmp_path / "rw_t.pth"
    torch.save(timm.create_model("efficientnetv2_rw_t").state_dict(), path)
    with pytest.raises(Effv2nbError) as err:
        models.load("tiny", weights=path)
    msg = str(err.value)
    assert "tiny" in msg and "missing" in msg and "unexpected" in msg and str(path) in msg


def test_truncated_safetensors_and_unknown_model(tmp_path, tiny_state):
    path = tmp_path / "t.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(path))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(Effv2nbError, match="safetensors"):
        models.load("tiny", weights=path)
    with pytest.raises(Effv2nbError, match="unknown model"):
        models.load("resnet50")
    with pytest.raises(Effv2nbError, match="not found"):
        models.load("tiny", weights=tmp_path / "nope.pth")


def test_seeded_random_weights_load_as_untrained_and_repeat(tmp_path):
    """The rw_t path's weights file: same code path as a user's file, marked untrained, same draw each time."""
    import torch
    from effv2nb.export.random_weights import save_seeded
    from effv2nb.model import models

    a = save_seeded("tiny", tmp_path / "a.safetensors", seed=3, size=32)
    b = save_seeded("tiny", tmp_path / "b.safetensors", seed=3, size=32)
    ma, mb = models.load("tiny", weights=a), models.load("tiny", weights=b)
    info = models.info(ma)
    assert not info.trained and "seeded random weights" in info.weights
    for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.equal(va, vb), k
    trained = models.load("tiny")                      # the bundled file carries no mark
    assert models.info(trained).trained


def test_seeded_rw_t_agrees_across_runtimes_on_images(tmp_path):
    """Seeded random rw_t weights keep photos' logits small enough that PyTorch and ORT agree on the top-1."""
    import numpy as np
    import torch
    from effv2nb.core.ort_session import ort_session
    from effv2nb.export.onnx_export import export_onnx
    from effv2nb.export.random_weights import save_seeded
    from effv2nb.model import models

    path = save_seeded("efficientnetv2_rw_t", tmp_path / "w.safetensors", seed=0, size=64)
    model = models.load("efficientnetv2_rw_t", weights=path)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    x = np.stack([np.stack([np.sin(5 * (xx * a + yy * (1 - a)) + k) for k in range(3)]) * 2
                  for a in np.linspace(0, 1, 8)]).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    onnx = export_onnx(model, tmp_path / "m.onnx", size=64)
    got = ort_session(onnx).run(None, {"input": x})[0]
    assert np.abs(ref).max() < 1e3
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-4
    assert (got.argmax(1) == ref.argmax(1)).all()


def test_classify_follows_effv2nb_size(monkeypatch):
    """00's classify and the upload widget use the run's input size (EFFV2NB_SIZE), like notebooks 02-06."""
    from PIL import Image
    from effv2nb.model import models, predict

    model = models.load("tiny")
    image = Image.new("RGB", (100, 80), (200, 30, 30))
    assert predict._transform_for(model)(image).shape[-1] == 64
    monkeypatch.setenv("EFFV2NB_SIZE", "32")
    assert predict._transform_for(model)(image).shape[-1] == 32
    assert len(predict.classify(model, image)) == 5
