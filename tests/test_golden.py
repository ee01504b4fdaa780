"""Golden regression numbers: whole-model totals of four reviewed design points.

``tests/golden/simulator.json`` holds, per case, the total cycles, MACs, DRAM bytes and
energy, with how and from which commit they were made and a hash of every hardware preset.
Integers (MACs, DRAM bytes) compare exactly; cycles and energy are floats and compare with
a relative tolerance of 1e-9 (sums of float64 stage rows: allowed to differ in the last
bits across numpy versions, nothing more; the kernels run with fastmath off).

When numbers move on purpose, regenerate them with

    pytest tests/test_golden.py --update-golden

review ``git diff tests/golden/simulator.json`` and say in the commit why they moved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from golden_util import preset_hashes, provenance

from vitsim.hw_configs.loader import load_hardware
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file, trace_synthetic
from vitsim.workloads.trace import WorkloadTrace

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden" / "simulator.json"
REL = 1e-9
INT_FIELDS = ("macs", "dram_bytes")
FLOAT_FIELDS = ("total_cycles", "energy_mj")
REGENERATE = "pytest tests/test_golden.py --update-golden"
REVIEW = (f"if the change is intended, run `{REGENERATE}`, review `git diff "
          f"tests/golden/simulator.json` and say in the commit why the numbers moved")

# name -> how its trace is made and which preset runs it
CASES: dict[str, dict[str, Any]] = {
    "vitcod/deit-tiny/real-mask-0.95": {
        "hw": "vitcod", "model": "deit-tiny", "source": "mask",
        "mask": "shared/data/deit_tiny_info_0.95.npy", "convention": "pruned"},
    "vitcod/deit-tiny/synthetic-0.9-seed0": {
        "hw": "vitcod", "model": "deit-tiny", "source": "synthetic", "sparsity": 0.9, "seed": 0},
    "vitcod/deit-base/synthetic-0.9-seed0": {
        "hw": "vitcod", "model": "deit-base", "source": "synthetic", "sparsity": 0.9, "seed": 0},
    "systolic-os/deit-tiny/synthetic-0.9-seed0": {
        "hw": "systolic-os", "model": "deit-tiny", "source": "synthetic", "sparsity": 0.9,
        "seed": 0},
}


@pytest.fixture(scope="module")
def synthetic_traces() -> dict[tuple[str, float, int], WorkloadTrace]:
    """Synthetic traces by (model, sparsity, seed), each built once (DeiT-Base takes ~1 s)."""
    return {}


def _trace(case: dict[str, Any], cache: dict, request: pytest.FixtureRequest) -> WorkloadTrace:
    if case["source"] == "mask":
        path = request.getfixturevalue("real_mask_path")
        return trace_mask_file(path, get_spec(case["model"]), convention=case["convention"])
    key = (case["model"], case["sparsity"], case["seed"])
    if key not in cache:
        cache[key] = trace_synthetic(get_spec(case["model"]), sparsity=case["sparsity"],
                                     seed=case["seed"])
    return cache[key]


def _numbers(case: dict[str, Any], cache: dict, request: pytest.FixtureRequest) -> dict:
    t = simulate(_trace(case, cache, request), load_hardware(case["hw"])).totals
    return {"total_cycles": t.total_cycles, "macs": t.macs, "dram_bytes": t.dram_bytes,
            "energy_mj": t.energy_mj}


def _preset_hashes() -> dict[str, str]:
    return preset_hashes("accelerators")


def _provenance() -> dict[str, Any]:
    return provenance(REGENERATE, {"integers": "exact: " + ", ".join(INT_FIELDS),
                                   "floats": f"relative {REL}: " + ", ".join(FLOAT_FIELDS)})


def _load_golden() -> dict[str, Any]:
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing; create it with `{REGENERATE}` and review it")
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_update_golden(request, synthetic_traces):
    """Rewrite the golden file (only with --update-golden), then fail so it gets reviewed."""
    if not request.config.getoption("--update-golden"):
        pytest.skip(f"regenerates {GOLDEN.name} only with --update-golden")
    doc = {
        "provenance": _provenance(),
        "preset_sha256": _preset_hashes(),
        "cases": {name: {"inputs": case, **_numbers(case, synthetic_traces, request)}
                  for name, case in CASES.items()},
    }
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    pytest.fail(f"rewrote {GOLDEN}: review `git diff tests/golden/simulator.json` and say in "
                f"the commit why the numbers moved; then run the tests without --update-golden",
                pytrace=False)


@pytest.fixture
def golden(request) -> dict[str, Any]:
    if request.config.getoption("--update-golden"):
        pytest.skip("the golden file is being regenerated")
    return _load_golden()


def test_golden_file_has_provenance(golden):
    prov = golden["provenance"]
    for key in ("generated_by", "date_utc", "git_commit", "versions", "tolerance"):
        assert prov.get(key), f"golden provenance lacks {key!r}"
    for pkg in ("python", "numpy", "numba"):
        assert pkg in prov["versions"]
    assert set(golden["cases"]) == set(CASES), (
        f"golden cases {sorted(golden['cases'])} differ from the test's {sorted(CASES)}; "
        f"{REVIEW}")


def test_presets_unchanged_since_golden(golden):
    recorded, now = golden["preset_sha256"], _preset_hashes()
    changed = sorted(name for name in recorded.keys() | now.keys()
                     if recorded.get(name) != now.get(name))
    assert not changed, (
        f"hw_configs/presets/accelerators/{{{', '.join(changed)}}} changed (or were added or "
        f"removed) since tests/golden/simulator.json was made; {REVIEW}")


@pytest.mark.parametrize("name", list(CASES))
def test_golden_numbers(name, golden, request, synthetic_traces):
    case = CASES[name]
    expected = golden["cases"][name]
    assert expected["inputs"] == case, f"{name}: the case's inputs changed; {REVIEW}"
    got = _numbers(case, synthetic_traces, request)
    moved = []
    for field in INT_FIELDS:
        if got[field] != expected[field]:
            moved.append(f"{field} {expected[field]} -> {got[field]}")
    for field in FLOAT_FIELDS:
        if got[field] != pytest.approx(expected[field], rel=REL):
            moved.append(f"{field} {expected[field]!r} -> {got[field]!r} "
                         f"({got[field] / expected[field] - 1:+.3e})")
    assert not moved, f"{name}: golden numbers moved: {'; '.join(moved)}; {REVIEW}"
