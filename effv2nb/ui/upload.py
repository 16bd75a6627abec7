"""Notebook 00 (quickstart): the image-upload demo.

The image-upload demo: a ``FileUpload`` wired to one plain handler.

``classify_upload(value, model)`` is the whole logic behind the widget. It takes exactly what
ipywidgets 8 puts in ``FileUpload.value`` (a tuple of dicts with ``name``, ``type``, ``size``,
``content``) and returns an ``UploadResult``; the notebook and the tests call it with a simulated
upload, the widget calls it on a real one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from effv2nb.core.errors import Effv2nbError
from effv2nb.data.images import MAX_FILE_BYTES, decode_image
from effv2nb.model.models import info
from effv2nb.model.predict import classify


@dataclass
class UploadResult:
    ok: bool
    message: str                     # one line, shown in the widget
    name: str = ""
    predictions: list = field(default_factory=list)
    image: object = None


def simulated_upload(data: bytes, name: str = "upload.jpg", mime: str = "image/jpeg") -> tuple:
    """What ``FileUpload.value`` holds after the user picks one file (ipywidgets 8 layout)."""
    import datetime

    return ({"name": name, "type": mime, "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def classify_upload(value, model, k: int = 5) -> UploadResult:
    """Decode the (first) uploaded file, classify it, or say in one line why not."""
    if not value:
        return UploadResult(False, "no file uploaded yet")
    item = value[0]
    name = str(item.get("name", "<upload>"))
    size = int(item.get("size") or 0)
    if size > MAX_FILE_BYTES:
        return UploadResult(False, f"{name}: file is {size / 1e6:.1f} MB, over the "
                                   f"{MAX_FILE_BYTES / 1e6:.0f} MB cap", name)
    try:
        image = decode_image(bytes(item["content"]), name)
        preds = classify(model, image, k=k)
    except Effv2nbError as exc:
        return UploadResult(False, str(exc), name)
    except Exception as exc:  # the widget must never show a traceback
        return UploadResult(False, f"{name}: could not classify ({type(exc).__name__}: {exc})", name)
    best = preds[0]
    warn = info(model).weights_warning
    msg = f"{name}: {best.label} ({best.prob * 100:.1f} %)" + (f" [{warn}]" if warn else "")
    return UploadResult(True, msg, name, preds, image)


def result_figure(result: UploadResult, model):
    """The image beside its top-5 chart, as a matplotlib figure; ``None`` for a failed result.

    Built with ``matplotlib.figure.Figure``, not pyplot: the figure is never in pyplot's global list, so the
    inline backend does not show it a second time, and a comm message handled on another thread (JupyterLab's
    widget subshells run the inline backend's ``flush_figures`` after each one) cannot draw, resize or close
    it while the handler is still building it.
    """
    from matplotlib.figure import Figure

    from effv2nb.ui.plots import top5_chart

    if not result.ok:
        return None
    fig = Figure(figsize=(8, 2.6))
    ax_img, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    ax_img.imshow(result.image)
    ax_img.set_axis_off()
    top5_chart(result.predictions, title=f"top-5: {result.name}", warning=info(model).weights_warning, ax=ax_bar)
    fig.tight_layout()
    return fig


def _render(result: UploadResult, model):
    """Display the chart (if any) and the one-line message; return the figure shown, or ``None``."""
    from IPython.display import display

    fig = result_figure(result, model)
    if fig is not None:
        display(fig)
    print(result.message)
    return fig


def show_result(result: UploadResult, model) -> None:
    """Render a result: the image and its top-5 chart, then the one-line message (or only the message).

    Returns ``None``, so a call as a cell's last line shows the chart once, not a second time as the cell's value.
    """
    _render(result, model)


@dataclass
class UploadDemo:
    """The widget and what its handler last did (so headless code can check a 'click')."""

    box: object
    upload: object
    output: object
    last: UploadResult = None
    figure: object = None        # the figure the handler last displayed (None after a failed upload)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)


def upload_demo(model) -> UploadDemo:
    """A FileUpload and an Output, wired to ``classify_upload`` + ``show_result``."""
    import ipywidgets as widgets

    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload image")
    output = widgets.Output()
    demo = UploadDemo(widgets.VBox([upload, output]), upload, output)

    def on_change(change):
        output.clear_output()
        demo.last = classify_upload(change["new"], model)
        with output:
            demo.figure = _render(demo.last, model)

    upload.observe(on_change, names="value")
    return demo
