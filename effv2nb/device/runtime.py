"""Notebooks 04 and 06, ``infer``, ``image2npz``, ``bench``: model runners.

Runners: one interface, three backends (``ort``, ``torch``, ``vsx``).

A runner turns images into scores. ``ort`` and ``torch`` take host-preprocessed tensors
(``host_preprocess = True``, see ``effv2nb.device.preprocess``); ``vsx`` — the vendor's runtime — takes
decoded images and preprocesses on the device with the vdsp JSON (``host_preprocess = False``).

``open_runner(backend, prefix, vdsp_path, device_id)`` maps the vendor's ``--model-prefix``:

- ``ort`` (the stand-in device; CPU provider, CUDA when ONNX Runtime has it): ``PREFIX.onnx``,
  e.g. ``workspace/tiny_int8/mod`` -> ``workspace/tiny_int8/mod.onnx`` as written by compile.
- ``torch`` (the reference): ``PREFIX`` is ``torch:<model name>`` (weights resolved as
  ``effv2nb.model.models.load`` does, ``EFFV2NB_WEIGHTS`` included) or ``torch:<model name>@<weights path>``;
  a compile prefix also works when ``PREFIX.json`` names the source model. From Python, ``PREFIX`` may
  also be the loaded model itself (a ``torch.nn.Module``): the runner then runs *that* instance, the
  one that was exported, so the reference and the exported graph are the same network (a second
  load would draw other random weights). ``size`` sets the input size it is checked against
  (default: the model's own), e.g. the export size of notebook 04.
- ``vsx``: the vendor's ``vaststreamx`` with ``PREFIX`` (its model files), the vdsp JSON and a
  device id, built and driven as the vendor's runstream script (``common/vsx/classification.py``)
  does: an image with an odd side is first resized (bilinear) to the even size below, not cropped;
  ``run_sync`` per image in ``sync`` mode, ``run_async`` for every image of a batch then
  ``get_operator_output`` for each (outputs come back in input order) in ``async`` mode; the
  scores of an image are ``as_numpy(output)[0]``, row 0 of the output's batch dimension.
  Without the package: one clear error line.
"""
from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import numpy as np

from effv2nb.core.errors import Effv2nbError
from effv2nb.core.ort_session import ort_session

BACKENDS = ("ort", "torch", "vsx")


class Runner:
    """Base class. ``run(batch NCHW float32) -> scores (N, C) float32``."""

    name = "runner"
    host_preprocess = True
    input_size = None          # (H, W) or None when unknown
    max_batch = None           # None: any batch size

    def run(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def run_images(self, images, mode: str = "sync") -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def prepare_image(self, image):
        """What ``run_images`` takes for one decoded image (runners that preprocess on the device)."""
        return np.asarray(image)

    def describe(self) -> str:
        return self.name

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class OrtRunner(Runner):
    """ONNX Runtime on an ONNX file (fp32, fp16 or int8 QDQ)."""

    name = "ort"

    def __init__(self, onnx_path, providers=None, threads: int | None = None, optimize: bool = True,
                 spin: bool = True):
        """``optimize=False``: no graph optimization, so an int8 QDQ model runs its QuantizeLinear /
        DequantizeLinear pairs as written (the exact path of ``effv2nb.quant.int8_paths``). ``spin=False``:
        threads sleep between runs (``effv2nb.core.ort_session``; the interleaved timings' policy)."""
        import onnxruntime as ort

        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise Effv2nbError("no model file (compile it first: python -m effv2nb compile BUILD.yaml)", self.path)
        if providers is None:
            avail = ort.get_available_providers()
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in avail]
        self.session = ort_session(self.path, threads=threads, optimize=optimize, providers=providers, spin=spin)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        shape = inp.shape
        self.input_size = tuple(int(d) for d in shape[-2:]) if all(isinstance(d, int) for d in shape[-2:]) else None
        self.max_batch = int(shape[0]) if isinstance(shape[0], int) and shape[0] > 0 else None
        self.output_name = self.session.get_outputs()[0].name
        self.providers = self.session.get_providers()

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=self.input_dtype)
        if self.max_batch and len(x) != self.max_batch:
            return np.concatenate([self.run(x[i:i + self.max_batch]) for i in range(0, len(x), self.max_batch)])
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(x), -1)

    def describe(self) -> str:
        return f"ONNX Runtime ({', '.join(self.providers)}) on {self.path}"


class TorchRunner(Runner):
    """The PyTorch model itself (the reference)."""

    name = "torch"

    def __init__(self, model, size: int | None = None):
        import torch

        self.torch = torch
        self.model = model.eval()
        if size is not None:
            self.input_size = (int(size), int(size))
            return
        try:
            from effv2nb.model.models import info

            s = info(model).input_size
            self.input_size = (s, s)
        except Effv2nbError:
            self.input_size = None

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.model(self.torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return out.float().numpy()

    def describe(self) -> str:
        name = getattr(getattr(self.model, "effv2nb_info", None), "name", type(self.model).__name__)
        return f"PyTorch reference ({name})"


def import_vsx():
    """The vendor runtime module, or one clear error line."""
    try:
        return importlib.import_module("vaststreamx")
    except ImportError:
        raise Effv2nbError("backend 'vsx' needs the vendor runtime 'vaststreamx', which is not installed here; "
                           "use --backend ort (the ONNX Runtime stand-in device)") from None


class VsxRunner(Runner):
    """The vendor's runtime: fusion op from the vdsp JSON + model operator in one stream (the vendor's step 4)."""

    name = "vsx"
    host_preprocess = False

    def __init__(self, prefix, vdsp_path, device_id: int = 0, batch: int = 1):
        vsx = import_vsx()
        self.vsx = vsx
        if vdsp_path is None:
            raise Effv2nbError("backend 'vsx' needs --vdsp-params (the device preprocessing JSON)")
        if vsx.set_device(int(device_id)) != 0:
            raise Effv2nbError(f"vaststreamx cannot open device {device_id}")
        self.device_id = int(device_id)
        self.prefix = str(prefix)
        self.model = vsx.Model(self.prefix, int(batch))
        self.fusion_op = vsx.Operator.load_ops_from_json_file(str(vdsp_path))[0]
        self.model_op = vsx.ModelOperator(self.model)
        self.graph = vsx.Graph()
        self.graph.add_operators(self.fusion_op, self.model_op)
        self.stream = vsx.Stream(self.graph, vsx.StreamBalanceMode.ONCE)
        self.stream.register_operator_output(self.model_op)
        self.stream.build()

    def prepare_image(self, image) -> np.ndarray:
        """A decoded RGB image as the device takes it: HWC uint8 with even sides.

        An odd side is resized (bilinear, as OpenCV's default ``cv.resize``) to the even size just
        below, as the vendor's script does before ``create_image``; an image narrower than 2 pixels
        cannot be made even and is refused.
        """
        from effv2nb.device.preprocess import resize_bilinear_cv, to_hwc_uint8

        a = to_hwc_uint8(image)
        h, w = a.shape[:2]
        if h < 2 or w < 2:
            raise Effv2nbError(f"a {w}x{h} image cannot go to the device (it takes sides of 2 pixels or more)")
        if h % 2 or w % 2:
            even = resize_bilinear_cv(a, w // 2 * 2, h // 2 * 2)
            a = np.clip(np.rint(even), 0, 255).astype(np.uint8)
        return a

    def _device_image(self, image):
        a = self.prepare_image(image)
        h, w = a.shape[:2]
        chw = np.ascontiguousarray(a.transpose(2, 0, 1))
        return self.vsx.create_image(chw, self.vsx.ImageFormat.RGB_PLANAR, w, h, self.device_id)

    def _scores(self, outputs) -> np.ndarray:
        """``outputs[0]``: the model's outputs for one image; its first output, batch row 0."""
        return np.asarray(self.vsx.as_numpy(outputs[0][0])[0], dtype=np.float32).reshape(-1)

    def run_images(self, images, mode: str = "sync") -> np.ndarray:
        """Decoded RGB images -> scores ``(N, classes)``; ``mode`` ``sync`` or ``async`` (see the module)."""
        if mode == "async":
            for img in images:
                self.stream.run_async([self._device_image(img)])
            out = [self._scores(self.stream.get_operator_output(self.model_op)) for _ in images]
        else:
            out = [self._scores(self.stream.run_sync([self._device_image(img)])) for img in images]
        return np.stack(out)

    def close(self):
        stream = getattr(self, "stream", None)
        if stream is not None:
            try:
                stream.close_input()
                stream.wait_until_done()
            except Exception:  # closing twice, or the device went away: nothing left to do
                pass
            self.stream = None

    def describe(self) -> str:
        return f"vendor vaststreamx on device {self.device_id}: {self.prefix}"


def _torch_model_from_prefix(prefix: str):
    from effv2nb.model import models

    spec = prefix[len("torch:"):] if prefix.startswith("torch:") else None
    if spec is None:
        manifest = Path(prefix + ".json")
        if not manifest.is_file():
            raise Effv2nbError("backend 'torch' needs --model-prefix torch:<model name>[@<weights>] "
                               "(or a compiled prefix whose PREFIX.json names the source model)", prefix)
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Effv2nbError(f"cannot read the manifest: {exc}", manifest) from None
        name = next((data.get(k) for k in ("model", "model_name", "source_model") if isinstance(data.get(k), str)),
                    None)
        src = data.get("source") if isinstance(data.get("source"), dict) else {}
        name = name or src.get("model") or src.get("name")
        if name not in models.MODEL_NAMES:
            raise Effv2nbError("the manifest does not name a known source model; use torch:<model name>", manifest)
        weights = data.get("weights") if isinstance(data.get("weights"), str) and Path(str(data.get("weights"))).is_file() \
            else "auto"
        return models.load(name, weights)
    name, _, weights = spec.partition("@")
    return models.load(name, weights or "auto")


def _is_module(obj) -> bool:
    """A loaded PyTorch model (checked without importing torch for the other backends)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def open_runner(backend: str, prefix, vdsp_path=None, device_id: int = 0, batch: int = 1,
                threads: int | None = None, size: int | None = None) -> Runner:
    """The runner for ``backend`` (see the module docstring for how ``prefix`` is read).

    ``backend="torch"`` also takes the loaded model itself as ``prefix`` (``size``: its input size
    when not the model's own); the other backends take a path.
    """
    if backend not in BACKENDS:
        raise Effv2nbError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}", where="--backend")
    if _is_module(prefix):
        if backend != "torch":
            raise Effv2nbError(f"backend '{backend}' runs a model file (--model-prefix); "
                               "only 'torch' runs a loaded model", where="--backend")
        return TorchRunner(prefix, size=size)
    prefix = str(prefix)
    if backend == "ort":
        path = Path(prefix if prefix.endswith(".onnx") else prefix + ".onnx")
        return OrtRunner(path, threads=threads)
    if backend == "torch":
        return TorchRunner(_torch_model_from_prefix(prefix), size=size)
    return VsxRunner(prefix, vdsp_path, device_id=device_id, batch=batch)


def softmax(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def to_probs(scores: np.ndarray) -> np.ndarray:
    """Scores as probabilities: kept when they already are (a model with softmax appended), else softmax."""
    s = np.asarray(scores, dtype=np.float32)
    if s.size and s.min() >= 0 and np.allclose(s.sum(axis=1), 1.0, atol=1e-3):
        return s
    return softmax(s)


def time_model(runner: Runner, batch: np.ndarray, repeats: int = 3) -> float:
    """Images per second of ``runner.run`` on an in-memory batch (best of ``repeats``, after one warm-up)."""
    runner.run(batch[:1])
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        runner.run(batch)
        best = min(best, time.perf_counter() - t)
    return len(batch) / best if best > 0 else float("inf")
