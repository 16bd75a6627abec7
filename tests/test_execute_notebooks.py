"""tools/execute_notebooks.py: what it stores (no frozen progress bar, a widget's note instead of its repr)
the banner printed once per process."""
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import execute_notebooks as ex  # noqa: E402

WIDGET = "application/vnd.jupyter.widget-view+json"


def _nb(outputs):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells.append(cell)
    return nb


def test_progress_bars_are_not_stored_and_widgets_get_a_note():
    nb = _nb([
        {"output_type": "display_data", "metadata": {},
         "data": {WIDGET: {"model_id": "a"}, "text/plain": "int8 recipes:   0%|          | 0/7 [00:00<?, ?it/s]"}},
        {"output_type": "stream", "name": "stderr",
         "text": "calibration:   0%|          | 0/16 [00:00<?, ?img/s]\rcalibration: 100%|##| 16/16 [00:01<00:00, 9.1img/s]\n"},
        {"output_type": "stream", "name": "stdout", "text": "ratio 1.09 (spread 0.83-1.58)\nchecked: 5 variants at 100%\n"},
        {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
         "data": {WIDGET: {"model_id": "b"}, "text/plain": "VBox(children=(FileUpload(value=()),))"}},
    ])
    ex.clean(nb)
    outs = nb.cells[0].outputs
    assert [o["output_type"] for o in outs] == ["stream", "execute_result"]
    assert outs[0]["text"] == "ratio 1.09 (spread 0.83-1.58)\nchecked: 5 variants at 100%\n"
    assert outs[1]["data"]["text/plain"] == [ex.WIDGET_NOTE] and WIDGET in outs[1]["data"]


def test_banner_once_per_process(capsys):
    from effv2nb.model import models
    from effv2nb.ui import banner

    model = models.load("tiny")
    banner._SHOWN.clear()
    text = banner.show_once(model)
    assert banner.show_once(model) == text and banner.show(model) == text
    assert capsys.readouterr().out.count("model:   tiny") == 2      # show_once: once; show: always
