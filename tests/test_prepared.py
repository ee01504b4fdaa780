"""The prepared form: ``evaluate(prepare(trace), hw)`` against the row-by-row assembly it
replaced (``stage_table_twin``), bit for bit, on random hardware points; memoised results
equal fresh ones; the totals-only metrics equal the full result's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from stage_table_twin import simulate_twin

from vitsim.analysis.compare import accelerator_scoped
from vitsim.analysis.metrics import point_metrics
from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.simulator.prepared import evaluate, prepare
from vitsim.simulator.results import SimulationResult
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file, trace_synthetic

# Overrides drawn per point: (probability, dotted path, values).
_KNOBS = (
    *((0.3, f"buffers.{b}.size_kib", (8, 16, 32, 53, 64, 100, 160, 256, 512))
      for b in ("q", "k", "v", "output", "weight", "activation", "index")),
    (0.3, "mac_array.n_lines", (2, 8, 16, 32, 48, 64, 96, 128)),
    (0.2, "mac_array.macs_per_line", (4, 8, 16)),
    (0.3, "mac_array.accumulators_per_line", (1, 2, 4, 16, 32)),
    (0.3, "allocation.policy", ("static", "proportional", "search")),
    (0.2, "allocation.static_dense_fraction", (0.1, 0.3, 0.5, 0.9)),
    (0.3, "codec.enabled", ("true", "false")),
    (0.2, "codec.decoder_placement", ("array", "dedicated")),
    (0.5, "dram.bandwidth_gb_per_s", (10, 25.6, 50, 76.8, 100.3, 300)),
    (0.2, "schedule.double_buffering", ("true", "false")),
    (0.2, "schedule.polarization", ("true", "false")),
    (0.2, "schedule.max_heads_in_parallel", (1, 2, 4, 16)),
    (0.2, "engines.sparse.dataflow", ("k_stationary", "rows")),
    (0.2, "engines.sparse.row_policy", ("greedy", "round_robin", "balanced")),
    (0.1, "engines.sparse.enabled", ("false",)),
    (0.1, "data_bits", (4, 8, 16)),
    (0.2, "softmax.ops_per_cycle", (16, 64)),
    (0.04, "buffers.q.size_kib", (0.05,)),  # too small: the same error both ways
    (0.04, "buffers.weight.size_kib", (0.5,)),
)
_PRESETS = ("vitcod",) * 4 + ("systolic-os", "systolic-ws", "vitcod-released")


def random_hardware(rng: np.random.Generator, n: int) -> list[HardwareConfig]:
    points = []
    for _ in range(n):
        preset = _PRESETS[rng.integers(len(_PRESETS))]
        overrides = [f"{path}={values[rng.integers(len(values))]}"
                     for p, path, values in _KNOBS if rng.random() < p]
        points.append(apply_overrides(load_hardware(preset), overrides))
    return points


def _full(p, hw: HardwareConfig) -> SimulationResult:
    return evaluate(p, hw).result()


def _outcome(fn, *args):
    try:
        return fn(*args)
    except VitsimError as err:
        return f"{type(err).__name__}: {err}"


def assert_same_result(a: SimulationResult, b: SimulationResult) -> None:
    """Every label, column, energy array and total equal, bit for bit (dtype included)."""
    for name in ("layer", "head", "stage", "engine"):
        x, y = getattr(a.stages, name), getattr(b.stages, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert list(a.stages.columns) == list(b.stages.columns)
    for name, col in a.stages.columns.items():
        other = b.stages.columns[name]
        assert col.dtype == other.dtype and col.tobytes() == other.tobytes(), name
    assert list(a.energy_pj) == list(b.energy_pj)
    for comp, arr in a.energy_pj.items():
        assert arr.tobytes() == b.energy_pj[comp].tobytes(), comp
    for f in dataclasses.fields(a.totals):
        assert repr(getattr(a.totals, f.name)) == repr(getattr(b.totals, f.name)), f.name
    assert (a.model, a.trace_hash) == (b.model, b.trace_hash)


@pytest.fixture(scope="module")
def traces() -> dict:
    return {"deit-tiny": trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0),
           "levit-128": trace_synthetic(get_spec("levit-128"), sparsity=0.7, seed=1),
           "deit-base": trace_synthetic(get_spec("deit-base"), sparsity=0.9, seed=2)}


@pytest.mark.parametrize("model,n_points", [("deit-tiny", 60), ("levit-128", 40),
                                            ("deit-base", 12)])
def test_evaluate_matches_the_row_by_row_assembly(traces, rng, model, n_points) -> None:
    trace = traces[model]
    p = prepare(trace)
    for hw in random_hardware(rng, n_points):
        want = _outcome(simulate_twin, trace, hw)
        got = _outcome(_full, p, hw)
        via_simulate = _outcome(simulate, trace, hw)
        if isinstance(want, str):
            assert got == want and via_simulate == want
            continue
        assert_same_result(got, want)
        assert_same_result(via_simulate, want)


def test_real_mask_matches_the_row_by_row_assembly(real_mask_path, rng) -> None:
    trace = trace_mask_file(real_mask_path, get_spec("deit-tiny"))
    p = prepare(trace)
    for hw in random_hardware(rng, 30):
        want = _outcome(simulate_twin, trace, hw)
        got = _outcome(_full, p, hw)
        if isinstance(want, str):
            assert got == want
        else:
            assert_same_result(got, want)


def test_totals_only_metrics_equal_the_full_results(traces, rng) -> None:
    trace = traces["levit-128"]
    p = prepare(trace)
    for hw in [load_hardware("vitcod"), load_hardware("vitcod-released"),
               *random_hardware(rng, 30)]:
        try:
            ev = evaluate(p, hw)
        except VitsimError:
            continue
        result = simulate_twin(trace, hw)
        assert ev.metrics() == point_metrics(result)  # same keys, same floats
        scoped = accelerator_scoped(result)
        assert ev.attention_latency_ms == scoped.latency_ms["attention"]
        assert ev.attention_energy_mj == scoped.energy_mj["attention"]
        assert dict(ev.energy_by_component_mj) == result.energy_by_component_mj()


def test_memoised_results_equal_fresh_ones(traces, rng) -> None:
    """A prepared trace remembers attention and linear rows by the fields they read; a point
    evaluated after others (memo hits, bandwidth-only changes) equals its fresh evaluation."""
    trace = traces["deit-tiny"]
    base = load_hardware("vitcod")
    points = [apply_overrides(base, [f"dram.bandwidth_gb_per_s={bw}"])
              for bw in (20, 76.8, 300)] + [base] + random_hardware(rng, 20)
    warm = prepare(trace)
    for hw in points + points[::-1]:
        got = _outcome(_full, warm, hw)
        fresh = _outcome(_full, prepare(trace), hw)
        if isinstance(fresh, str):
            assert got == fresh
        else:
            assert_same_result(got, fresh)


def test_simulate_prepares_a_trace_once(traces) -> None:
    from vitsim.simulator.prepared import prepared

    trace = traces["deit-tiny"]
    assert prepared(trace) is prepared(trace)
    assert prepared(trace).groups[0].n_heads == 12 * 3


def test_evaluation_scoped_equals_the_full_results(traces, rng) -> None:
    from vitsim.analysis.compare import evaluation_scoped

    trace = traces["deit-tiny"]
    p = prepare(trace)
    for hw in [load_hardware("vitcod"), load_hardware("vitcod-released"),
               *random_hardware(rng, 10)]:
        try:
            ev = evaluate(p, hw)
        except VitsimError:
            continue
        assert evaluation_scoped(ev) == accelerator_scoped(ev.result())


def test_a_sweep_chunk_records_the_full_results_metrics(tmp_path, traces) -> None:
    """Sweeps evaluate prepared traces; their records are the full results' metrics."""
    from vitsim.analysis.compare import accelerator_scoped, comparison_rows, run_baseline
    from vitsim.analysis.sweeps import runner

    trace = traces["deit-tiny"]
    path = tmp_path / "trace.npz"
    trace.save(path)
    loaded = runner._load_trace(str(path))
    hws = [load_hardware("vitcod"),
           apply_overrides(load_hardware("vitcod"), ["dram.bandwidth_gb_per_s=20"]),
           load_hardware("systolic-os")]
    records = runner.evaluate_chunk("tiny-test", str(path), [(str(i), hw)
                                                            for i, hw in enumerate(hws)],
                                    ["sanger", "rtx-2080ti"])
    for record, hw in zip(records, hws, strict=True):
        result = simulate(loaded, hw)
        assert record["status"] == "ok" and record["trace_hash"] == result.trace_hash
        for name, value in point_metrics(result).items():
            assert record[name] == value, name
        runs = [(b, run_baseline(b, loaded, hw)) for b in ("sanger", "rtx-2080ti")]
        for row in comparison_rows(loaded.spec.name, hw.name, accelerator_scoped(result), runs):
            assert record[f"speedup_{row.baseline}_{row.scope}"] == row.speedup
