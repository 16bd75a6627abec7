"""Notebook 03 (compile config): the config editor widget.

An ipywidgets form over a build config: live validation, YAML preview, Save.

The logic is plain functions (``form_values_from_config``, ``apply_form``, ``check_form``) that the
widgets only call, so a test — or a notebook cell that sets widget values in code and calls
``editor.save_button.click()`` — exercises exactly what a click does, without a browser.

Form fields: backend type, dtype, calibrate mode, per-channel, reduce_range (suite extra: auto, true
or false — 7-bit weights; auto lets compile measure this CPU),
dataset path, number of calibration images, input size, Resize and CenterCrop sizes, mean/std.
Fields the form does not show (and unknown keys) are kept as loaded.
"""
from __future__ import annotations

import copy
from pathlib import Path

from effv2nb.formats import build_config as C
from effv2nb.formats.build_schema import sub_mapping
from effv2nb.core.errors import Effv2nbError

FIELDS = ("backend_type", "dtype", "calibrate_mode", "per_channel", "reduce_range", "dataset_path",
          "data_num", "input_size", "resize", "crop", "mean", "std")


def _op(ops, t):
    return next((op for op in ops if isinstance(op, dict) and op.get("type") == t), None)


def _fmt_list(v):
    return ", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else ("" if v is None else str(v))


def form_values_from_config(cfg: C.BuildConfig) -> dict:
    """The form's values for a config (strings for the list-valued fields)."""
    ops = cfg.dataset.process_ops or []
    resize, crop, norm = _op(ops, "Resize"), _op(ops, "CenterCrop"), _op(ops, "Normalize")
    q = cfg.backend.quantize
    return {
        "backend_type": cfg.backend.type,
        "dtype": cfg.backend.dtype,
        "calibrate_mode": q.calibrate_mode or "max",
        "per_channel": bool(q.quantize_per_channel),
        "reduce_range": q.reduce_range if q.reduce_range is not None else _default_reduce_range(),
        "dataset_path": cfg.dataset.path or "",
        "data_num": int(cfg.dataset.sampler.get_data_num or 50),
        "input_size": int(cfg.input_shape[-1]),
        "resize": _fmt_list(resize.get("size")) if resize else "",
        "crop": _fmt_list(crop.get("crop_size")) if crop else "",
        "mean": _fmt_list(norm.get("mean")) if norm else "",
        "std": _fmt_list(norm.get("std")) if norm else "",
    }


def _default_reduce_range():
    from effv2nb.quant.int8_guard import DEFAULT_REDUCE_RANGE

    return DEFAULT_REDUCE_RANGE


REDUCE_RANGE_OPTIONS = ("auto", "true", "false")     # the form's dropdown; YAML: auto / true / false


def _reduce_range_option(value) -> str:
    return value if value == "auto" else str(bool(value)).lower()


def _reduce_range_value(option):
    """The YAML value of a dropdown option (``"auto"``, True or False); booleans pass through."""
    if isinstance(option, bool) or option == "auto":
        return option
    return {"true": True, "false": False}.get(str(option).lower(), option)


def _parse_numbers(text, where, n, kind=float, path=None):
    parts = [p for p in str(text).replace("[", " ").replace("]", " ").replace(",", " ").split() if p]
    try:
        vals = [kind(p) for p in parts]
    except ValueError:
        raise Effv2nbError(f"'{text}' is not a list of {n} {'integers' if kind is int else 'numbers'}",
                           path, where) from None
    if len(vals) != n:
        raise Effv2nbError(f"'{text}' has {len(vals)} value(s), {n} expected", path, where)
    return vals


def apply_form(raw: dict, values: dict, path=None) -> dict:
    """A new config mapping: ``raw`` with the form's ``values`` written in (order and unknown keys kept).

    Raises ``Effv2nbError`` naming the key when a text field cannot be parsed.
    """
    out = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    be = sub_mapping(out, "backend")
    be["type"] = values["backend_type"]
    be["dtype"] = values["dtype"]
    if values["dtype"] == "int8" or "quantize" in be:
        q = sub_mapping(be, "quantize")
        q["calibrate_mode"] = values["calibrate_mode"]
        q["quantize_per_channel"] = bool(values["per_channel"])
        rr = _reduce_range_value(values["reduce_range"])
        if "reduce_range" in q or rr != _default_reduce_range():
            q["reduce_range"] = rr
    ds = sub_mapping(out, "dataset")
    ds["path"] = str(values["dataset_path"]).strip()
    sub_mapping(ds, "sampler")["get_data_num"] = int(values["data_num"])
    size = int(values["input_size"])
    fe = sub_mapping(out, "frontend")
    shape = fe.get("shape") if isinstance(fe.get("shape"), dict) and fe.get("shape") else {"input": [1, 3, size, size]}
    name = next(iter(shape))
    old = shape[name] if isinstance(shape[name], list) and len(shape[name]) == 4 else [1, 3, size, size]
    shape[name] = [old[0], old[1], size, size]
    fe["shape"] = shape
    ops = ds.get("process_ops") if isinstance(ds.get("process_ops"), list) else []
    idx = {op.get("type"): i for i, op in enumerate(ops) if isinstance(op, dict)}
    for t, key, field in (("Resize", "size", "resize"), ("CenterCrop", "crop_size", "crop")):
        text = str(values[field]).strip()
        if t in idx and text:
            ops[idx[t]][key] = _parse_numbers(text, f"dataset.process_ops[{idx[t]}].{key}", 2, int, path)
        elif t in idx and not text:
            raise Effv2nbError("empty; [height, width] expected", path, f"dataset.process_ops[{idx[t]}].{key}")
    if "Normalize" in idx:
        i = idx["Normalize"]
        for key in ("mean", "std"):
            ops[i][key] = _parse_numbers(values[key], f"dataset.process_ops[{i}].{key}", 3, float, path)
    ds["process_ops"] = ops
    return out


def check_form(raw: dict, values: dict, path=None):
    """``(new_raw or None, errors, warnings, yaml_text)``: what the form shows after each change."""
    try:
        new = apply_form(raw, values, path)
    except Effv2nbError as exc:
        return None, [exc], [], ""
    errors, warnings = C.validate_build(new, path)
    return new, errors, warnings, C.dump_yaml(new)


class ConfigEditor:
    """The form. ``ConfigEditor(path_or_config, save_path=...)``; ``.widget`` to display it.

    Headless use: set ``editor.w[field].value`` and call ``editor.save_button.click()``.
    """

    def __init__(self, source, save_path=None):
        import ipywidgets as W

        if isinstance(source, C.BuildConfig):
            self.cfg = source
        else:
            self.cfg, _ = C.load_build_config(source)
        self.save_path = Path(save_path) if save_path else self.cfg.source
        self.base_raw = self.cfg.to_dict()
        # validate against the folder relative paths resolve from (the loaded file's)
        self.check_path = self.cfg.source or self.save_path
        v = form_values_from_config(self.cfg)
        lay = W.Layout(width="420px")
        st = {"description_width": "150px"}
        self.w = {
            "backend_type": W.Dropdown(options=C.BACKEND_TYPES, value=v["backend_type"], description="backend.type", style=st, layout=lay),
            "dtype": W.Dropdown(options=C.BACKEND_DTYPES, value=v["dtype"], description="backend.dtype", style=st, layout=lay),
            "calibrate_mode": W.Dropdown(options=C.CALIBRATE_MODES, value=v["calibrate_mode"], description="calibrate_mode", style=st, layout=lay),
            "per_channel": W.Checkbox(value=v["per_channel"], description="quantize_per_channel", indent=False),
            "reduce_range": W.Dropdown(options=REDUCE_RANGE_OPTIONS, value=_reduce_range_option(v["reduce_range"]),
                                       description="reduce_range", style=st, layout=lay),
            "dataset_path": W.Text(value=v["dataset_path"], description="dataset.path", style=st, layout=W.Layout(width="640px")),
            "data_num": W.BoundedIntText(value=v["data_num"], min=1, max=100000, description="get_data_num", style=st, layout=lay),
            "input_size": W.BoundedIntText(value=v["input_size"], min=16, max=2048, description="input size", style=st, layout=lay),
            "resize": W.Text(value=v["resize"], description="Resize size (h, w)", style=st, layout=lay),
            "crop": W.Text(value=v["crop"], description="CenterCrop (h, w)", style=st, layout=lay),
            "mean": W.Text(value=v["mean"], description="Normalize mean", style=st, layout=lay),
            "std": W.Text(value=v["std"], description="Normalize std", style=st, layout=lay),
        }
        self.messages = W.HTML()
        self.preview = W.Textarea(layout=W.Layout(width="640px", height="320px"), disabled=True)
        self.save_button = W.Button(description="Save", button_style="primary", icon="save")
        self.status = W.Label()
        self.errors, self.warnings, self.current = [], [], None
        for wid in self.w.values():
            wid.observe(self._on_change, names="value")
        self.save_button.on_click(self._on_save)
        self.refresh()
        self.widget = W.VBox([
            W.HTML(f"<b>{self.cfg.source or 'new config'}</b> &rarr; saves to <code>{self.save_path}</code>"),
            *self.w.values(), self.messages, self.preview, W.HBox([self.save_button, self.status])])

    def values(self) -> dict:
        return {k: wid.value for k, wid in self.w.items()}

    def refresh(self):
        """Re-validate and update messages, preview and the Save button (called on every change)."""
        self.current, self.errors, self.warnings, text = check_form(self.base_raw, self.values(), self.check_path)
        self.w["calibrate_mode"].disabled = self.w["per_channel"].disabled = self.w["reduce_range"].disabled = (
            self.w["dtype"].value != "int8")
        self.preview.value = text
        self.save_button.disabled = bool(self.errors)
        import html

        lines = [f"<span style='color:#b00'>error: {html.escape(str(e))}</span>" for e in self.errors]
        lines += [f"<span style='color:#a60'>warning: {html.escape(w)}</span>" for w in self.warnings]
        self.messages.value = "<br>".join(lines) or "<span style='color:#070'>valid</span>"

    def _on_change(self, _change=None):
        self.refresh()

    def save(self) -> Path:
        """Validate and write to ``save_path`` (atomic, old file kept as .bak); raises on errors."""
        self.refresh()
        if self.errors:
            raise self.errors[0]
        if self.save_path is None:
            raise Effv2nbError("no file to save to (pass save_path)")
        data = C.rebase_paths(self.current, self.cfg.base_dir, self.save_path.parent)
        C.save_build_config(data, self.save_path)
        return self.save_path

    def _on_save(self, _button=None):
        try:
            path = self.save()
            self.status.value = f"saved {path}"
        except Effv2nbError as exc:
            self.status.value = f"not saved: {exc}"


def open_editor(source, save_path=None):
    """``(editor, widget)`` for ``source``; when the file cannot be loaded, ``(None, one-line message widget)``.

    What a notebook cell should display: a broken config gives a red line naming the file and the
    key or line, not a traceback.
    """
    import html

    import ipywidgets as W

    try:
        editor = ConfigEditor(source, save_path=save_path)
    except Effv2nbError as exc:
        return None, W.HTML(f"<span style='color:#b00'>cannot open: {html.escape(str(exc))}</span>")
    return editor, editor.widget
