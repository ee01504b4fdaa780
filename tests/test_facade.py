"""The Python facade (``import vitsim``) and a result's notebook face."""

from __future__ import annotations

import pandas as pd
import pytest

import vitsim
from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import apply_overrides, load_hardware


@pytest.fixture(scope="module")
def result():
    return vitsim.simulate("vitcod", model="deit-tiny", sparsity=0.9)


def test_simulate_takes_a_preset_name(result) -> None:
    assert result.model == "deit-tiny" and result.hardware.name == "vitcod"
    # the same point through the layers, by hand
    from vitsim.simulator.simulate import simulate
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic

    direct = simulate(trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0),
                      load_hardware("vitcod"))
    assert direct.totals.total_cycles == result.totals.total_cycles


def test_simulate_accepts_trace_first_and_configs(result) -> None:
    trace = vitsim.trace(model="deit-tiny", sparsity=0.9)
    swapped = vitsim.simulate(trace, "vitcod")
    cfg = vitsim.simulate(load_hardware("vitcod"), trace=trace)
    assert swapped.totals.total_cycles == cfg.totals.total_cycles == result.totals.total_cycles


def test_overrides_one_path_syntax() -> None:
    hw = load_hardware("vitcod")
    want = apply_overrides(hw, ["dram.bandwidth_gb_per_s=153.6"])
    assert apply_overrides(hw, ["hardware.dram.bandwidth_gb_per_s=153.6"]) == want
    assert apply_overrides(hw, {"hardware.dram.bandwidth_gb_per_s": 153.6}) == want
    assert vitsim.hardware("vitcod", **{"hardware.dram.bandwidth_gb_per_s": 153.6}) == want
    assert vitsim.hardware("vitcod", dram__bandwidth_gb_per_s=153.6) == want
    with pytest.raises(VitsimError, match="unknown key"):
        vitsim.hardware("vitcod", dram__bandwidth=1)


def test_workload_errors_are_one_line() -> None:
    with pytest.raises(VitsimError, match="sparsity"):
        vitsim.simulate("vitcod", model="deit-tiny")
    with pytest.raises(VitsimError, match=r"\[0, 1\)"):
        vitsim.simulate("vitcod", model="deit-tiny", sparsity=1.5)


def test_result_repr_is_short_and_html_is_a_table(result) -> None:
    text = repr(result)
    assert len(text.splitlines()) <= 4 and len(text) < 400
    assert "deit-tiny" in text and "vitcod" in text
    page = result._repr_html_()
    assert page.count("<table") == 2 and "<th" in page and "qk" in page
    assert len(page) < 20_000


def test_metrics_and_frame(result) -> None:
    from vitsim.analysis.sweeps.spec import known_metrics

    m = result.metrics()
    assert m["latency_ms"] == result.totals.latency_ms
    assert set(m) <= set(known_metrics())
    assert all(isinstance(v, float) for v in m.values())
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert frame["total_cycles"].sum() == pytest.approx(result.totals.total_cycles)
    assert frame["energy_pj"].sum() * 1e-9 == pytest.approx(result.totals.energy_mj)
    stages = result.by_stage()
    assert sum(s["share"] for s in stages) == pytest.approx(1.0)


def test_compare_returns_a_frame() -> None:
    table = vitsim.compare("vitcod", model="deit-tiny", sparsity=0.9, baselines=["sanger"])
    assert list(table["scope"]) == ["attention", "end_to_end"]
    assert (table["speedup"] > 0).all()


def test_sweep_from_a_dict_needs_no_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    table = vitsim.sweep({
        "base": {"hardware": "vitcod",
                 "workload": {"source": "synthetic", "model": "deit-tiny", "sparsity": 0.9}},
        "axes": {"workload.sparsity": [0.5, 0.9]},
    })
    assert isinstance(table, pd.DataFrame) and len(table) == 2
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    # the attention scope is what sparsity moves
    att = table.set_index("workload.sparsity")["attention_latency_ms"]
    assert att[0.9] < att[0.5]
    kept = vitsim.sweep("quick", out=tmp_path / "q", workers=1)
    assert (tmp_path / "q").is_dir() and len(kept) > 0
