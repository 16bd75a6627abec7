"""speed_reasons: the graph check per recipe, inversions told apart from noise, where int8 time goes."""
from effv2nb.bench import speed_reasons


def _row(name, speed, lo, hi, float_nodes, qdq):
    return {"layout": name, "speedup_vs_fp32": speed, "speedup_min": lo, "speedup_max": hi,
            "float_nodes": float_nodes, "qdq_nodes": qdq}


def test_inversions_within_the_spread_are_not_differences():
    rows = [_row("all int8", 1.50, 1.40, 1.60, 0, 2), _row("SE in float", 1.55, 1.45, 1.65, 35, 70),
            _row("SiLU in float", 1.80, 1.75, 1.85, 30, 60)]
    found = speed_reasons.against_intuition(rows)
    assert [real for _, real in found] == [False, True]
    assert "SE in float" in found[0][0] and "not a measured difference" in found[0][0]
    assert "SiLU in float" in found[1][0] and "measure again" in found[1][0]
    assert speed_reasons.against_intuition(rows[:1]) == []


def test_where_int8_time_goes():
    share = speed_reasons.where_int8_time_goes({"QLinearConv": 6.0, "QLinearSigmoid": 1.0, "QLinearMul": 1.0,
                                                "QuantizeLinear": 1.0, "Transpose": 1.0})
    assert share["total_ms"] == 10.0 and share["conv"] == 60.0 and share["silu_se"] == 20.0
    assert share["qdq"] == 10.0 and abs(share["rest"] - 10.0) < 1e-9


def test_tiny_fast_recipe_is_all_integer(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFV2NB_WEIGHTS", str(tmp_path / "rw_t.safetensors"))    # a notebook run on another model
    t = speed_reasons.tiny_fast_kernels(tmp_path, n_calib=8)
    assert t["convs"]["integer"] == t["convs"]["total"] == 36
    assert "ReduceMean" not in t["float"]       # the SE squeezes run as QLinearGlobalAveragePool
