"""The comparison against baselines, ``vitsim compare`` / ``reproduce``, and golden speedups.

``tests/golden/speedups.json`` holds the speedup and energy-efficiency ratio of the `vitcod`
preset over each of the paper's baselines, for the paper's six models at 90% sparsity
(synthetic attention, seed 0), in both scopes, with provenance and a hash of every preset the
numbers rest on (accelerator, platforms, peers). Regenerate with

    pytest tests/test_compare.py --update-golden

and say in the commit why the ratios moved.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_runner import run
from golden_util import preset_hashes, provenance

from vitsim.analysis.compare import (
    ATTENTION_STAGES,
    PAPER_BASELINES,
    PAPER_MODELS,
    SCOPES,
    accelerator_scoped,
    baseline_scoped,
    compare,
    comparison_rows,
    run_baseline,
    run_bracket,
)
from vitsim.analysis.reproduce import reproduce, write_reproduction
from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import load_hardware
from vitsim.simulator.baselines.result import BaselineKind, BaselineResult, OperatorTime
from vitsim.simulator.counts import STAGES
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic

GOLDEN = Path(__file__).resolve().parent / "golden" / "speedups.json"
REGENERATE = "pytest tests/test_compare.py --update-golden"
REL = 1e-6  # ratios of float sums: reproducible to far better than this on one platform
PRESET_FOLDERS = ("accelerators", "platforms", "peers")


@pytest.fixture(scope="module")
def tiny_trace():
    return trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)


@pytest.fixture(scope="module")
def vitcod():
    return load_hardware("vitcod")


def _baseline(ops, *, energy=10.0, batch=1) -> BaselineResult:
    return BaselineResult("toy", BaselineKind.ROOFLINE, "m", batch,
                          latency_ms=sum(o.latency_ms for o in ops), energy_mj=energy,
                          operators=tuple(ops))


# ---------------------------------------------------------------------------------------------
# Scopes and ratios


def test_accelerator_attention_scope_is_its_attention_rows(tiny_trace, vitcod):
    result = simulate(tiny_trace, vitcod)
    scoped = accelerator_scoped(result)
    t = result.stages
    att = np.isin(t.stage, [STAGES.index(s) for s in ATTENTION_STAGES])
    cycles = t["total_cycles"][att].sum()
    assert scoped.latency_ms["attention"] == pytest.approx(cycles / vitcod.clock_hz * 1e3)
    assert scoped.latency_ms["end_to_end"] == result.totals.latency_ms
    assert 0 < scoped.energy_mj["attention"] < scoped.energy_mj["end_to_end"]
    assert sum(scoped.by_stage_ms.values()) == pytest.approx(result.totals.latency_ms)


def test_platform_attention_energy_is_power_times_its_share():
    ops = [OperatorTime("linear:fc1", "fc1", 3.0), OperatorTime("attention:qk", "qk", 1.0),
           OperatorTime("softmax", "softmax", 0.5), OperatorTime("attention:sv", "sv", 0.5)]
    scoped = baseline_scoped(_baseline(ops, energy=50.0, batch=2))
    assert scoped.latency_ms == {"attention": 1.0, "end_to_end": 2.5}  # per image
    assert scoped.energy_mj["attention"] == pytest.approx(50.0 * 2.0 / 5.0 / 2)


def test_itemised_energy_is_used_when_given():
    ops = [OperatorTime("a:qk", "qk", 1.0, energy_mj=0.25),
           OperatorTime("a:fc1", "fc1", 1.0, energy_mj=4.0)]
    assert baseline_scoped(_baseline(ops, energy=4.25)).energy_mj["attention"] == 0.25


def test_ratios_are_baseline_over_accelerator(tiny_trace, vitcod):
    acc = accelerator_scoped(simulate(tiny_trace, vitcod))
    ops = [OperatorTime("attention:qk", "qk", 2.0), OperatorTime("linear:fc1", "fc1", 6.0)]
    rows = comparison_rows("deit-tiny", "vitcod", acc, [("toy", _baseline(ops, energy=8.0))])
    by_scope = {r.scope: r for r in rows}
    assert by_scope["attention"].speedup == pytest.approx(2.0 / acc.latency_ms["attention"])
    assert by_scope["end_to_end"].energy_efficiency == pytest.approx(
        8.0 / acc.energy_mj["end_to_end"])
    assert {r.baseline for r in rows} == {"toy"}


# ---------------------------------------------------------------------------------------------
# Baselines by name


def test_run_baseline_dispatches_by_name(tiny_trace, vitcod):
    assert run_baseline("jetson-tx2", tiny_trace, vitcod).kind is BaselineKind.ROOFLINE
    normalised = run_baseline("sanger", tiny_trace, vitcod)
    published = run_baseline("sanger", tiny_trace, vitcod, normalise=False)
    assert normalised.kind is BaselineKind.ACCELERATOR
    assert normalised.latency_ms != published.latency_ms


def test_run_baseline_reads_peer_and_platform_files(tmp_path, tiny_trace, vitcod):
    from vitsim.hw_configs.peers import dump_peer, load_peer
    from vitsim.hw_configs.platforms import dump_platform, load_platform

    peer = tmp_path / "my-sanger.yaml"
    peer.write_text(dump_peer(load_peer("sanger")), encoding="utf-8")
    plat = tmp_path / "my-gpu.yaml"
    plat.write_text(dump_platform(load_platform("rtx-2080ti")), encoding="utf-8")
    assert run_baseline(str(peer), tiny_trace, vitcod).latency_ms == pytest.approx(
        run_baseline("sanger", tiny_trace, vitcod).latency_ms)
    assert run_baseline(str(plat), tiny_trace, vitcod).latency_ms == pytest.approx(
        run_baseline("rtx-2080ti", tiny_trace, vitcod).latency_ms)


def test_unknown_baseline_is_one_clear_error(tiny_trace, vitcod):
    with pytest.raises(VitsimError, match=r"unknown baseline 'tpu'.*jetson-tx2"):
        run_baseline("tpu", tiny_trace, vitcod)


# ---------------------------------------------------------------------------------------------
# reproduce and the CLI


@pytest.fixture(scope="module")
def paper_reproduction():
    """The paper's six models at 90% (takes ~10 s; shared by the golden tests)."""
    return reproduce()


def test_reproduction_covers_every_model_baseline_and_scope(paper_reproduction):
    rep = paper_reproduction
    keys = {(r.model, r.baseline, r.scope) for r in rep.rows}
    assert len(keys) == len(rep.rows) == len(PAPER_MODELS) * len(PAPER_BASELINES) * 2
    assert {h.paper_baseline for h in rep.headlines} == set(PAPER_BASELINES)
    for h in rep.headlines:
        best = max(r.speedup for r in rep.rows if r.baseline == h.baseline
                   and r.scope == h.scope)
        assert h.vitsim_up_to == best
    doc = rep.document()
    for row in doc["rows"]:
        assert {"model", "baseline", "speedup", "energy_efficiency"} <= row.keys()
        assert math.isfinite(row["speedup"]) and row["speedup"] > 0


def test_reproduction_reads_three_ways(paper_reproduction):
    """Every default row has its reference-mode twin against the same baseline; a platform's
    baseline latency is the same under both (only a peer is normalised to the accelerator),
    so the two speedups differ exactly by the accelerators' attention latencies."""
    rep = paper_reproduction
    assert rep.reference == "vitcod-released"
    ref = {(r.model, r.baseline, r.scope): r for r in rep.reference_rows}
    assert ref.keys() == {(r.model, r.baseline, r.scope) for r in rep.rows}
    for r in rep.rows:
        x = ref[r.model, r.baseline, r.scope]
        assert x.accelerator == "vitcod-released"
        if r.baseline == "rtx-2080ti":
            assert x.baseline_latency_ms == r.baseline_latency_ms
            assert x.speedup / r.speedup == pytest.approx(
                r.accelerator_latency_ms / x.accelerator_latency_ms)
    assert set(rep.decomposition) == set(PAPER_MODELS)
    for model, steps in rep.decomposition.items():
        default = rep.accelerator[model].latency_ms["attention"]
        last = [s for s in steps if s.family == "vitsim"][-1]
        assert last.attention_cycles * 1e3 / 500e6 == pytest.approx(default)
    # the paper's other setting: the mean over 60-90% includes the 90% rows themselves
    assert rep.average_sparsities == (0.6, 0.7, 0.8, 0.9)
    for r in rep.rows:
        mean_speedup, _ = rep.averages[r.model, r.baseline, r.scope]
        assert mean_speedup > 0
    # removing the platforms' host dispatch never speeds a baseline down
    for model, by in rep.no_dispatch.items():
        for name, speedup in by.items():
            row = next(r for r in rep.rows if (r.model, r.baseline, r.scope)
                       == (model, name, "attention"))
            assert speedup <= row.speedup * (1 + 1e-12)
    doc = rep.document()
    assert doc["reference_rows"] and doc["decomposition"] and doc["sparsity_average"]["rows"]


def test_write_reproduction_writes_tables_and_figures(tmp_path):
    rep = reproduce(models=("deit-tiny",))
    out = write_reproduction(tmp_path / "rep", rep)
    names = {p.name for p in out.iterdir()}
    assert {"table.csv", "table_reference.csv", "table.md", "reproduce.json",
            "speedup_attention.png", "speedup_end_to_end.png", "breakdown.png"} <= names
    md = (out / "table.md").read_text()
    assert "Three ways, attention" in md and "From the released simulator" in md
    assert "Averaged over 60%, 70%, 80%, 90% sparsity" in md
    assert all((out / n).stat().st_size > 1000 for n in names if n.endswith(".png"))
    with pytest.raises(VitsimError, match="exists"):
        write_reproduction(tmp_path / "rep", rep)


def test_cli_compare_json(capsys):
    code, out, err = run(capsys, "compare", "--hw", "vitcod", "--model", "deit-tiny",
                         "--sparsity", "0.9", "--baselines", "sanger", "jetson-tx2", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {(r["baseline"], r["scope"]) for r in doc["rows"]} == {
        (b, s) for b in ("sanger", "jetson-tx2") for s in ("attention", "end_to_end")}


def test_compare_brackets_the_peers_assumptions(tiny_trace, vitcod):
    """Sanger's rows carry the ratio without its mask prediction (Sanger faster, so a lower
    speedup); SpAtten's the ratio with its LSB re-fetch (SpAtten slower, a higher one);
    platforms carry none, and their rows keep exactly the old keys."""
    _, _, rows = compare(tiny_trace, vitcod, ["sanger", "spatten", "jetson-tx2"])
    by = {(r.baseline, r.scope): r for r in rows}
    for scope in SCOPES:
        sanger, spatten = by["sanger", scope], by["spatten", scope]
        assert sanger.bracket == "sanger without mask prediction"
        assert spatten.bracket.startswith("spatten with LSB re-fetch")
        assert spatten.bracket_speedup > spatten.speedup
        assert spatten.bracket_energy_efficiency > spatten.energy_efficiency
        assert not by["jetson-tx2", scope].bracket
        assert math.isnan(by["jetson-tx2", scope].bracket_speedup)
    assert by["sanger", "attention"].bracket_speedup < by["sanger", "attention"].speedup
    plain = set(by["jetson-tx2", "attention"].as_dict())
    assert "bracket" not in plain and "speedup" in plain
    assert {"bracket", "bracket_speedup", "bracket_energy_efficiency"} <= set(
        by["sanger", "attention"].as_dict())
    # the bracket is the peer run under the other assumption, normalised like the headline
    label, alt = run_bracket("sanger", tiny_trace, vitcod)
    assert label == "sanger without mask prediction"
    assert alt.baseline == "sanger@vitcod" and "predict" not in {
        o.name.split(":")[-1] for o in alt.operators}
    assert run_bracket("rtx-2080ti", tiny_trace, vitcod) is None


def test_cli_compare_shows_brackets(capsys):
    code, out, err = run(capsys, "compare", "--hw", "vitcod", "--model", "deit-tiny",
                         "--sparsity", "0.9", "--baselines", "sanger", "spatten", "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert {r["bracket"] for r in rows} == {"sanger without mask prediction",
                                             "spatten with LSB re-fetch (0.167 of heads)"}
    assert all(r["bracket_speedup"] > 0 for r in rows)
    code, out, err = run(capsys, "compare", "--hw", "vitcod", "--model", "deit-tiny",
                         "--sparsity", "0.9", "--baselines", "sanger")
    assert code == 0, err
    assert "sanger without mask prediction" in out


def test_cli_reproduce_json_and_bad_mask_argument(capsys, tmp_path):
    code, out, err = run(capsys, "reproduce", "--models", "levit-128", "--json",
                         "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert {r["model"] for r in json.loads(out)["rows"]} == {"levit-128"}
    assert (tmp_path / "r" / "table.md").is_file()
    code, _, err = run(capsys, "reproduce", "--mask", "deit-tiny")
    assert code == 2 and "MODEL=MASK.npy" in err and "Traceback" not in err
    code, _, err = run(capsys, "reproduce", "--out", str(tmp_path / "r"))
    assert code == 2 and "exists" in err


# ---------------------------------------------------------------------------------------------
# Golden speedups


def _ratios(rep) -> dict[str, dict[str, float]]:
    return {f"{r.model}/{r.baseline}/{r.scope}":
            {"speedup": r.speedup, "energy_efficiency": r.energy_efficiency}
            for r in rep.rows}


def test_update_golden_speedups(request, paper_reproduction):
    if not request.config.getoption("--update-golden"):
        pytest.skip(f"regenerates {GOLDEN.name} only with --update-golden")
    doc = {
        "provenance": {**provenance(REGENERATE, {"ratios": f"relative {REL}"}),
                       "inputs": "vitsim reproduce defaults: vitcod preset, the paper's six "
                                 "models, sparsity 0.9, synthetic attention, seed 0"},
        "preset_sha256": preset_hashes(*PRESET_FOLDERS),
        "ratios": _ratios(paper_reproduction),
    }
    GOLDEN.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    pytest.fail(f"rewrote {GOLDEN}: review the diff and say in the commit why the ratios "
                f"moved", pytrace=False)


@pytest.fixture
def golden_speedups(request) -> dict[str, Any]:
    if request.config.getoption("--update-golden"):
        pytest.skip("the golden file is being regenerated")
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing; create it with `{REGENERATE}`")
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_presets_unchanged_since_golden_speedups(golden_speedups):
    recorded, now = golden_speedups["preset_sha256"], preset_hashes(*PRESET_FOLDERS)
    changed = sorted(k for k in recorded.keys() | now.keys() if recorded.get(k) != now.get(k))
    assert not changed, (f"presets {changed} changed since {GOLDEN.name} was made; run "
                         f"`{REGENERATE}`, review the diff and say why the ratios moved")


def test_golden_speedups(golden_speedups, paper_reproduction):
    expected, got = golden_speedups["ratios"], _ratios(paper_reproduction)
    assert expected.keys() == got.keys()
    moved = [f"{k} {f} {expected[k][f]:.6g} -> {got[k][f]:.6g}"
             for k in expected for f in ("speedup", "energy_efficiency")
             if got[k][f] != pytest.approx(expected[k][f], rel=REL)]
    assert not moved, f"golden ratios moved: {'; '.join(moved[:5])}; run `{REGENERATE}`"
