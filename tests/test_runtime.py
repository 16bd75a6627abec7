"""Runners: ORT and torch agree; the vsx runner makes the seed's calls (checked on a stand-in module)."""
import sys
import types

import numpy as np
import pytest

from effv2nb import models, runtime
from effv2nb.errors import Effv2nbError


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from effv2nb.export import export_onnx
    model = models.load("tiny")
    return export_onnx(model, tmp_path_factory.mktemp("rt") / "tiny" / "mod.onnx"), model


def test_ort_and_torch_agree(tiny_onnx):
    path, model = tiny_onnx
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    ort_r = runtime.open_runner("ort", str(path)[:-5])
    torch_r = runtime.open_runner("torch", "torch:tiny")
    assert ort_r.input_size == (64, 64) and ort_r.max_batch is None
    a, b = ort_r.run(x), torch_r.run(x)
    assert a.shape == (3, 10) and np.abs(a - b).max() < 1e-3
    assert "ONNX Runtime" in ort_r.describe() and "PyTorch" in torch_r.describe()


def test_prefix_errors(tmp_path):
    with pytest.raises(Effv2nbError, match="compile it first"):
        runtime.open_runner("ort", tmp_path / "nothing" / "mod")
    with pytest.raises(Effv2nbError, match="torch:<model name>"):
        runtime.open_runner("torch", tmp_path / "nothing" / "mod")
    with pytest.raises(Effv2nbError, match="unknown backend"):
        runtime.open_runner("tpu", "x")


def test_vsx_without_vendor_runtime_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "vaststreamx", None)   # import fails
    with pytest.raises(Effv2nbError) as err:
        runtime.open_runner("vsx", "deploy/mod", "v.json")
    assert "vaststreamx" in str(err.value) and "\n" not in str(err.value)


class FakeVsx(types.ModuleType):
    """Records the calls the runner makes, and answers like the vendor runtime would."""

    def __init__(self):
        super().__init__("vaststreamx")
        self.calls = []
        fake = self

        class Model:
            def __init__(self, prefix, batch):
                fake.calls.append(("Model", prefix, batch))

        class ModelOperator:
            def __init__(self, model):
                fake.calls.append(("ModelOperator",))

        class Operator:
            @staticmethod
            def load_ops_from_json_file(path):
                fake.calls.append(("load_ops_from_json_file", path))
                return ["fusion-op"]

        class Graph:
            def add_operators(self, *ops):
                fake.calls.append(("add_operators", len(ops)))

        class Stream:
            def __init__(self, graph, mode):
                fake.calls.append(("Stream", mode))

            def register_operator_output(self, op):
                fake.calls.append(("register_operator_output",))

            def build(self):
                fake.calls.append(("build",))

            def run_sync(self, images):
                img = images[0]
                fake.calls.append(("run_sync", img["w"], img["h"]))
                scores = np.zeros((1, 10), np.float32)
                scores[0, img["w"] % 10] = 1.0
                return [[scores]]

            def close_input(self):
                fake.calls.append(("close_input",))

            def wait_until_done(self):
                fake.calls.append(("wait_until_done",))

        self.Model, self.ModelOperator, self.Operator, self.Graph, self.Stream = Model, ModelOperator, Operator, Graph, Stream
        self.StreamBalanceMode = types.SimpleNamespace(ONCE="ONCE", RUN="RUN")
        self.ImageFormat = types.SimpleNamespace(RGB_PLANAR="RGB_PLANAR")

    def set_device(self, device_id):
        self.calls.append(("set_device", device_id))
        return 0

    def create_image(self, chw, fmt, w, h, device):
        assert chw.shape == (3, h, w) and chw.dtype == np.uint8 and fmt == "RGB_PLANAR"
        self.calls.append(("create_image", w, h, device))
        return {"w": w, "h": h}

    @staticmethod
    def as_numpy(x):
        return x


def test_vsx_runner_calls_like_the_seed(monkeypatch):
    fake = FakeVsx()
    monkeypatch.setitem(sys.modules, "vaststreamx", fake)
    r = runtime.open_runner("vsx", "deploy/tiny_int8/mod", "v.json", device_id=3, batch=2)
    assert not r.host_preprocess
    assert fake.calls[:8] == [("set_device", 3), ("Model", "deploy/tiny_int8/mod", 2),
                              ("load_ops_from_json_file", "v.json"), ("ModelOperator",), ("add_operators", 2),
                              ("Stream", "ONCE"), ("register_operator_output",), ("build",)]
    imgs = [np.zeros((31, 47, 3), np.uint8), np.zeros((20, 12, 3), np.uint8)]
    out = r.run_images(imgs)
    assert out.shape == (2, 10)
    assert ("create_image", 46, 30, 3) in fake.calls   # odd sides trimmed to even, as the device wants
    assert out[0].argmax() == 6 and out[1].argmax() == 2
    r.close()
    assert fake.calls[-2:] == [("close_input",), ("wait_until_done",)]


def test_vsx_runner_through_the_folder_pipeline(monkeypatch, tmp_path):
    from PIL import Image
    from effv2nb import infer
    fake = FakeVsx()
    monkeypatch.setitem(sys.modules, "vaststreamx", fake)
    (tmp_path / "4").mkdir()
    Image.new("RGB", (14, 10)).save(tmp_path / "4" / "a.png")
    r = runtime.open_runner("vsx", "mod", "v.json")
    preds, stats = infer.run_folder(r, tmp_path, vdsp=None, mode="async", batch=1, progress=False)
    assert preds[0].ids[0] == 4 and stats.images == 1


def test_to_probs_keeps_probabilities():
    p = np.array([[0.7, 0.2, 0.1]], np.float32)
    assert runtime.to_probs(p) is not None and np.allclose(runtime.to_probs(p), p)
    logits = np.array([[2.0, 1.0, 0.0]], np.float32)
    assert np.isclose(runtime.to_probs(logits).sum(), 1.0) and runtime.to_probs(logits).argmax() == 0
