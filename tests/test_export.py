"""Export to ONNX and its parity checks (issue 4, step 1)."""
import numpy as np
import pytest

from effv2nb.cli import main as cli
from effv2nb.model import models
from effv2nb.core.errors import Effv2nbError
from effv2nb.export.onnx_export import MAX_REL_L2, check_export, export_onnx, graph_io
from effv2nb.core.settings import DATA_DIR


@pytest.fixture(scope="module")
def tiny():
    return models.load("tiny")


@pytest.fixture(scope="module")
def tiny_onnx(tiny, tmp_path_factory):
    return export_onnx(tiny, tmp_path_factory.mktemp("exp") / "tiny_64.onnx")


def test_export_parity(tiny, tiny_onnx):
    r = check_export(tiny, tiny_onnx, n=8)
    assert r["ok"], r
    assert r["n"] == 8
    assert r["rel_l2"] <= MAX_REL_L2
    assert r["top1_agreement"] == 1.0
    assert r["op_counts"]["Conv"] > 0 and "Sigmoid" in r["op_counts"]
    assert r["checker"] == "passed"


def test_io_names_and_dynamic_batch(tiny, tiny_onnx):
    io = graph_io(tiny_onnx)
    assert list(io["inputs"]) == ["input"] and list(io["outputs"]) == ["output"]
    assert isinstance(io["inputs"]["input"][0], str) and io["inputs"]["input"][1:] == [3, 64, 64]
    assert 13 <= io["opset"] <= 21
    # a batch size other than the export's runs too
    x = np.random.default_rng(1).standard_normal((3, 3, 64, 64), dtype=np.float32)
    assert check_export(tiny, tiny_onnx, inputs=x)["ok"]


def test_bad_size(tiny, tmp_path):
    with pytest.raises(Effv2nbError, match="--size"):
        export_onnx(tiny, tmp_path / "t.onnx", size=4)
    assert not (tmp_path / "t.onnx").exists()


def test_cli_export_tiny(tmp_path, capsys):
    assert cli.main(["export", "--model", "tiny", "--save-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "tiny_64.onnx").is_file()
    assert "onnx.checker: passed" in out and "parity: OK" in out and "Conv" in out


def test_cli_export_unknown_model(tmp_path, capsys):
    assert cli.main(["export", "--model", "nope", "--save-dir", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_shipped_tiny_onnx_matches_weights(tiny):
    """data/tiny_64.onnx is the export of the bundled weights (re-export: python -m effv2nb export
    --model tiny --save-dir data)."""
    r = check_export(tiny, DATA_DIR / "tiny_64.onnx")
    assert r["ok"], f"data/tiny_64.onnx is stale: rel L2 {r['rel_l2']:.2e}"


def test_condition_random_model_only_touches_random(tiny, tmp_path):
    from effv2nb.export.onnx_export import condition_random_model

    assert condition_random_model(tiny) is False
    rnd = models.load("tiny", weights="random")
    assert condition_random_model(rnd) is True and not rnd.training
    assert check_export(rnd, export_onnx(rnd, tmp_path / "r.onnx"))["ok"]


def test_identity_nodes_stripped():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from effv2nb.export.onnx_export import _strip_identities

    w = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["w2"]), helper.make_node("MatMul", ["x", "w2"], ["y"]),
         helper.make_node("Identity", ["y"], ["output"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 2])], [w])
    m = onnx.load_from_string(_strip_identities(helper.make_model(g).SerializeToString()))
    assert [n.op_type for n in m.graph.node] == ["MatMul", "Identity"]   # the one feeding the output stays
    assert m.graph.node[0].input[1] == "w"
