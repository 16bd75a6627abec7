"""effv2nb.quant.graph_kinds: node groups by block, or by stage (EFFV2NB_SEARCH_GROUPS=stages)."""
import pytest

from helpers import tiny_int8_env

from effv2nb.quant import graph_kinds


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    fp32 = tiny_int8_env(tmp_path_factory.mktemp("kinds"), val_limit=10, n_calib=2)[1]
    return graph_kinds.node_table(fp32)


def test_stage_of():
    assert graph_kinds.stage_of("blocks.3.1") == "blocks.3"
    assert graph_kinds.stage_of("blocks.3") == "blocks.3"
    assert graph_kinds.stage_of("stem") == "stem" and graph_kinds.stage_of("all SE") == "all SE"


def test_stage_groups_are_unions_of_block_groups(rows):
    blocks, stages = graph_kinds.groups(rows), graph_kinds.groups(rows, "stages")
    assert len(stages) < len(blocks)
    assert {"stem", "head", "all SE", "all SiLU"} <= set(stages)
    assert not any(g.count(".") == 2 for g in stages), stages
    for stage, nodes in stages.items():
        members = [g for g in blocks if graph_kinds.stage_of(g) == stage]
        assert members and sorted(n for g in members for n in blocks[g]) == sorted(nodes), stage
    with pytest.raises(ValueError):
        graph_kinds.groups(rows, "layers")
