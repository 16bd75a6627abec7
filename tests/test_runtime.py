"""Runners: ORT and torch agree; the vsx runner drives vaststreamx as the vendor's runstream script does
(checked on a stand-in module that answers with the vendor's shapes)."""
import sys
import types

import numpy as np
import pytest

from effv2nb.model import models
from effv2nb.device import runtime
from effv2nb.core.errors import Effv2nbError


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from effv2nb.export.onnx_export import export_onnx
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


def test_torch_runner_runs_the_loaded_instance():
    """The reference is the model that was exported, not a second load of the same name."""
    import torch

    model = models.load("tiny")
    with torch.no_grad():
        model.classifier.bias.add_(torch.arange(10, dtype=torch.float32))   # this instance only
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    mine = runtime.open_runner("torch", model)
    fresh = runtime.open_runner("torch", "torch:tiny")
    assert mine.model is model
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    assert np.abs(mine.run(x) - want).max() < 1e-5
    assert np.abs(fresh.run(x) - want).max() > 1.0
    assert mine.input_size == (64, 64)
    assert runtime.open_runner("torch", model, size=48).input_size == (48, 48)
    assert runtime.open_runner("torch", "torch:tiny", size=48).input_size == (48, 48)
    with pytest.raises(Effv2nbError, match="only 'torch' runs a loaded model"):
        runtime.open_runner("ort", model)


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


class FakeTensor:
    """A device tensor: only ``vsx.as_numpy`` turns it into an array (as with the vendor's runtime)."""

    def __init__(self, array):
        self._array = array


class FakeVsx(types.ModuleType):
    """Records the calls the runner makes, and answers like the vendor runtime would.

    Each run gives one output tensor of the model's batch shape ``(batch, 10)``: row 0 holds the
    image's scores (a 1 at ``width % 10``), the padding rows hold large values, so a runner that
    reads anything but ``as_numpy(out)[0]`` gets wrong answers. ``run_async`` queues outputs that
    ``get_operator_output`` hands back in input order; an empty queue raises ``ValueError``, as the
    vendor's stream does once closed.
    """

    def __init__(self):
        super().__init__("vaststreamx")
        self.calls = []
        self.images = []             # the CHW arrays create_image received
        self.model_batch = 1
        fake = self
        queue = []

        def output_for(img):
            out = np.full((fake.model_batch, 10), 1e3, np.float32)
            out[0] = 0.0
            out[0, img["w"] % 10] = 1.0
            return [[FakeTensor(out)]]

        class Model:
            def __init__(self, prefix, batch):
                fake.calls.append(("Model", prefix, batch))
                fake.model_batch = batch

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
                return output_for(img)

            def run_async(self, images):
                img = images[0]
                fake.calls.append(("run_async", img["w"], img["h"]))
                queue.append(output_for(img))

            def get_operator_output(self, op):
                fake.calls.append(("get_operator_output",))
                if not queue:
                    raise ValueError("stream closed")
                return queue.pop(0)

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
        assert h % 2 == 0 and w % 2 == 0, "the device takes even sides"
        self.calls.append(("create_image", w, h, device))
        self.images.append(chw.copy())
        return {"w": w, "h": h}

    @staticmethod
    def as_numpy(x):
        assert isinstance(x, FakeTensor), f"as_numpy takes a device tensor, got {type(x).__name__}"
        return x._array


def test_vsx_runner_calls_like_the_vendor(monkeypatch):
    fake = FakeVsx()
    monkeypatch.setitem(sys.modules, "vaststreamx", fake)
    r = runtime.open_runner("vsx", "deploy/tiny_int8/mod", "v.json", device_id=3, batch=2)
    assert not r.host_preprocess
    assert fake.calls[:8] == [("set_device", 3), ("Model", "deploy/tiny_int8/mod", 2),
                              ("load_ops_from_json_file", "v.json"), ("ModelOperator",), ("add_operators", 2),
                              ("Stream", "ONCE"), ("register_operator_output",), ("build",)]
    imgs = [np.zeros((31, 47, 3), np.uint8), np.zeros((20, 12, 3), np.uint8)]
    out = r.run_images(imgs)
    assert out.shape == (2, 10), "one row of scores per image, whatever the model's batch"
    assert ("create_image", 46, 30, 3) in fake.calls and ("create_image", 12, 20, 3) in fake.calls
    assert out[0].argmax() == 6 and out[1].argmax() == 2 and out.max() == 1.0   # row 0 only, never padding
    r.close()
    assert fake.calls[-2:] == [("close_input",), ("wait_until_done",)]


def test_odd_sides_are_resized_not_cropped(monkeypatch):
    """The vendor's script resizes an odd-sized image to the even size below (cv.resize, bilinear):
    the last column and row of the image still show; a crop would drop them."""
    fake = FakeVsx()
    monkeypatch.setitem(sys.modules, "vaststreamx", fake)
    r = runtime.open_runner("vsx", "mod", "v.json")
    img = np.zeros((31, 47, 3), np.uint8)
    img[:, -1] = 255                    # a white last column
    img[-1, :, 1] = 255                 # a green last row
    r.run_images([img])
    chw = fake.images[-1]
    assert chw.shape == (3, 30, 46)
    assert chw[0, :-1, -1].min() > 200, "the white last column survives the resize"
    assert chw[1, -1, :].min() > 200, "the green last row survives the resize"
    assert chw[0, :-1, :-2].max() < 60, "and nothing else turns white"
    even = (np.arange(4 * 6 * 3) % 250).astype(np.uint8).reshape(4, 6, 3)
    r.run_images([even])
    assert np.array_equal(fake.images[-1], even.transpose(2, 0, 1)), "even sides pass unchanged"
    with pytest.raises(Effv2nbError, match="1x9 image"):
        r.prepare_image(np.zeros((9, 1, 3), np.uint8))


def test_async_mode_queues_a_batch_then_collects_it_in_order(monkeypatch):
    fake = FakeVsx()
    monkeypatch.setitem(sys.modules, "vaststreamx", fake)
    r = runtime.open_runner("vsx", "mod", "v.json", batch=4)
    imgs = [np.zeros((10, w, 3), np.uint8) for w in (12, 14, 16)]
    sync = r.run_images(imgs, mode="sync")
    n = len(fake.calls)
    out = r.run_images(imgs, mode="async")
    assert [c[0] for c in fake.calls[n:] if c[0] != "create_image"] == ["run_async"] * 3 + ["get_operator_output"] * 3
    assert np.array_equal(out, sync) and [int(i) for i in out.argmax(1)] == [2, 4, 6]
    with pytest.raises(ValueError):          # nothing queued: the stream answers like the vendor's
        r.stream.get_operator_output(r.model_op)


def test_vsx_runner_through_the_folder_pipeline(monkeypatch, tmp_path):
    from PIL import Image
    from effv2nb.device import infer
    fake = FakeVsx()
    monkeypatch.setitem(sys.modules, "vaststreamx", fake)
    (tmp_path / "4").mkdir()
    Image.new("RGB", (14, 10)).save(tmp_path / "4" / "a.png")
    Image.new("RGB", (15, 11)).save(tmp_path / "4" / "b.png")
    Image.new("RGB", (1, 11)).save(tmp_path / "4" / "c.png")       # cannot be made even: skipped, listed
    r = runtime.open_runner("vsx", "mod", "v.json")
    preds, stats = infer.run_folder(r, tmp_path, vdsp=None, mode="async", batch=2, progress=False)
    assert [p.ids[0] for p in preds] == [4, 4] and stats.images == 2
    assert [f.name for f, _ in stats.failed] == ["c.png"] and "1x11" in stats.failed[0][1]
    assert ("run_async", 14, 10) in fake.calls and not any(c[0] == "run_sync" for c in fake.calls)
    preds, _ = infer.run_folder(r, tmp_path, vdsp=None, mode="sync", batch=2, progress=False)
    assert [p.ids[0] for p in preds] == [4, 4] and any(c[0] == "run_sync" for c in fake.calls)


def test_to_probs_keeps_probabilities():
    p = np.array([[0.7, 0.2, 0.1]], np.float32)
    assert runtime.to_probs(p) is not None and np.allclose(runtime.to_probs(p), p)
    logits = np.array([[2.0, 1.0, 0.0]], np.float32)
    assert np.isclose(runtime.to_probs(logits).sum(), 1.0) and runtime.to_probs(logits).argmax() == 0


def test_timing_sessions_do_not_spin():
    """The interleaved timings' sessions sleep between runs (a spinning pool steals the next session's cores)."""
    from effv2nb.bench.variants import _ort_runner
    from effv2nb.core.ort_session import ort_session
    from helpers import TINY_PREFIX

    key = "session.intra_op.allow_spinning"
    timing = _ort_runner(TINY_PREFIX.with_suffix(".onnx"), 2).session.get_session_options()
    assert timing.get_session_config_entry(key) == "0"
    default = ort_session(TINY_PREFIX.with_suffix(".onnx")).get_session_options()
    try:
        value = default.get_session_config_entry(key)
    except Exception:       # not set: ONNX Runtime's default
        value = None
    assert value in (None, "", "1")                  # other sessions keep ONNX Runtime's default
