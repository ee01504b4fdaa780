"""The sparser engine's per-line loads agree with the times the simulation charges."""

from __future__ import annotations

import pytest

from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.simulator.counts import STAGES
from vitsim.simulator.line_loads import sparse_line_loads
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic


def _busy(result, layer: int, stage: str) -> float:
    t = result.stages
    sel = (t.layer == layer) & (t.stage == STAGES.index(stage))
    return float(t["sparse_busy_cycles"][sel].sum())


@pytest.mark.parametrize("overrides", [
    [],
    ["schedule.max_heads_in_parallel=1"],
    ["engines.sparse.dataflow=rows"],
    ["engines.sparse.dataflow=rows", "engines.sparse.row_policy=round_robin"],
    ["engines.sparse.dataflow=rows", "engines.sparse.row_policy=balanced"],
])
@pytest.mark.parametrize("model", ["deit-tiny", "levit-128"])
def test_busiest_line_is_the_time_the_simulation_charges(model, overrides):
    hw = apply_overrides(load_hardware("vitcod"), overrides)
    trace = trace_synthetic(get_spec(model), sparsity=0.9, seed=3)
    result = simulate(trace, hw)
    for layer in (0, len(trace.spec.blocks) - 1):
        groups = sparse_line_loads(trace, hw, layer)
        assert sorted(h for g in groups for h in g.heads) == list(
            range(trace.spec.blocks[layer].n_heads))
        assert sum(int(g.qk.max(initial=0)) for g in groups) == pytest.approx(
            _busy(result, layer, "qk"))
        assert sum(int(g.sv.max(initial=0)) for g in groups) == pytest.approx(
            _busy(result, layer, "sv"))
        for g in groups:
            assert g.dense_lines + g.sparse_lines == hw.mac_array.n_lines


def test_k_stationary_spreads_the_work_rows_do_not(real_mask_path):
    from vitsim.workloads.pipeline import trace_mask_file

    trace = trace_mask_file(real_mask_path, get_spec("deit-tiny"), convention="pruned")
    hw = load_hardware("vitcod")
    rows = apply_overrides(hw, ["engines.sparse.dataflow=rows",
                                "schedule.max_heads_in_parallel=1"])
    k = sparse_line_loads(trace, apply_overrides(hw, ["schedule.max_heads_in_parallel=1"]), 5)
    r = sparse_line_loads(trace, rows, 5)
    # whole rows: the CLS row's line dominates; K-stationary columns stay near the mean
    assert max(g.imbalance("qk") for g in r) > 2 * max(g.imbalance("qk") for g in k)


def test_bad_layer_and_dense_designs_are_refused():
    trace = trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)
    with pytest.raises(VitsimError, match="not a block"):
        sparse_line_loads(trace, load_hardware("vitcod"), 12)
    with pytest.raises(VitsimError, match="sparser engine"):
        sparse_line_loads(trace, load_hardware("systolic-os"), 0)
    for g in sparse_line_loads(trace, load_hardware("vitcod"), 0):
        assert g.imbalance("qk") >= 1.0 and g.imbalance("sv") >= 1.0
