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


def _broken(src, dst, how):
    """A copy of the ONNX file at ``src`` with one exporter-style bug: ``op`` (a SiLU's Sigmoid computed
    as Tanh) or ``constant`` (one convolution's weights 0.1 % off)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(src))
    if how == "op":
        node = next(n for n in m.graph.node if n.op_type == "Sigmoid")
        node.op_type = "Tanh"
    else:
        conv = [n for n in m.graph.node if n.op_type == "Conv"][len([n for n in m.graph.node if n.op_type == "Conv"]) // 2]
        init = next(i for i in m.graph.initializer if i.name == conv.input[1])
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(1.001), init.name))
    onnx.save(m, str(dst))
    return dst


@pytest.mark.parametrize("how", ["op", "constant"])
def test_a_broken_graph_fails_parity(tiny, tiny_onnx, tmp_path, how):
    """The limit is the graph's own fp32 noise floor x FLOOR_FACTOR: a wrong op, and even one convolution
    0.1 % off, land above it."""
    from effv2nb.export.onnx_export import FLOOR_FACTOR

    good = check_export(tiny, tiny_onnx)
    bad = check_export(tiny, _broken(tiny_onnx, tmp_path / f"{how}.onnx", how))
    assert good["ok"] and not bad["ok"], (good["rel_l2"], bad["rel_l2"], bad["limit"])
    assert bad["rel_l2"] > (100 if how == "op" else 2) * bad["limit"]   # measured: ~1e5 x and ~9 x
    assert good["limit"] == pytest.approx(FLOOR_FACTOR * good["noise_floor"]) and good["noise_floor"] > 0


def test_random_rw_t_parity_is_seeded_and_within_its_floor(tmp_path, one_thread):
    """Plain random rw_t at 128 px (what ``export`` does without weights): the draw repeats for a seed,
    and ORT stays within the graph's fp32 noise floor x FLOOR_FACTOR (benchmarks/export_parity_seeds.py
    measures 10 seeds at 128 and 288 px)."""
    import torch

    from effv2nb.export.onnx_export import condition_random_model

    a, b = (models.load("efficientnetv2_rw_t", weights="random", seed=3) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert "seed 3" in models.info(a).weights
    condition_random_model(a, 128, seed=3)
    r = check_export(a, export_onnx(a, tmp_path / "rw_t_128.onnx", size=128), n=8, seed=3)
    assert r["ok"], (r["rel_l2"], r["noise_floor"], r["limit"])
    assert r["rel_l2"] < 3 * r["noise_floor"]        # measured: 0.85-1.12 x the floor over 10 seeds
