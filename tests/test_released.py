"""The ``vitcod-released`` reference mode: ViTCoD's released simulator reproduced exactly.

The expected numbers are the released code's own output (GATECH-EIC/ViTCoD @ b2f7fb5, run in
its own environment by ``benchmarks/released/run_released.sh``): on the released DeiT-Tiny
95% mask, ViTCoD.py prints 9,492 loads, 4,728 pre-processing and 4,709 compute cycles (total
9,492) and ViT_FFN.py 681,492 linear and 1,361,664 FFN cycles; on a seeded random mask
(``random_mask`` below, the construction of ``benchmarks/released/random_mask.py``) it
prints 9,492 / 4,728 / 5,497 (total 10,225).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitsim.hw_configs.loader import load_hardware
from vitsim.simulator.counts import STAGES
from vitsim.simulator.released import load_cycles, released_head, released_totals
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file
from vitsim.workloads.trace import build_trace

MASK = Path(__file__).resolve().parents[2] / "shared" / "data" / "deit_tiny_info_0.95.npy"


@pytest.fixture(scope="module")
def hw():
    return load_hardware("vitcod-released")


@pytest.fixture(scope="module")
def real_trace():
    if not MASK.is_file():
        pytest.skip("the released DeiT-Tiny mask is not beside the repository")
    return trace_mask_file(MASK, get_spec("deit-tiny"), convention="pruned")


def random_mask(seed: int = 0, shape=(12, 3, 197, 197)) -> np.ndarray:
    """Kept mask (True = kept): 8% background, up to 12 'global-ish' columns kept with
    probability 0.6, CLS row and column kept."""
    rng = np.random.default_rng(seed)
    n_layers, n_heads, n, _ = shape
    kept = rng.random(shape) < 0.08
    for layer in range(n_layers):
        for head in range(n_heads):
            k = int(rng.integers(0, 13))
            cols = rng.choice(np.arange(1, n), size=k, replace=False)
            kept[layer, head][:, cols] |= rng.random((n, k)) < 0.6
    kept[:, :, 0, :] = True
    kept[:, :, :, 0] = True
    return kept


def test_released_numbers_on_the_real_mask_exactly(real_trace, hw):
    t = released_totals(real_trace, hw)
    assert (t.attention_loads, t.attention_pre, t.attention_compute, t.attention) == (
        9492, 4728, 4709, 9492)
    assert (t.linear_loads, t.linear_compute, t.linear) == (23304, 681492, 681492)
    assert (t.ffn_loads, t.ffn) == (0, 1361664)
    assert t.total == 2052648


def test_released_numbers_on_a_random_mask_exactly(hw):
    spec = get_spec("deit-tiny")
    trace = build_trace(spec, list(random_mask(0)))
    t = released_totals(trace, hw)
    assert (t.attention_loads, t.attention_pre, t.attention_compute, t.attention) == (
        9492, 4728, 5497, 10225)


def test_simulate_with_the_preset_gives_the_released_totals(real_trace, hw):
    result = simulate(real_trace, hw)
    st = result.stages
    names = np.array(STAGES)[st.stage]
    attention = np.isin(names, ["decode", "qk", "softmax", "sv"])
    assert st["total_cycles"][attention].sum() == 9492
    assert st["total_cycles"][np.isin(names, ["fc1", "fc2"])].sum() == 1361664
    assert st["total_cycles"][np.isin(names, ["qkv", "encode", "proj"])].sum() == 681492
    assert result.totals.total_cycles == 2052648


def test_load_rounding_is_per_transfer():
    # 76.8 GiB/s at 500 MHz is 164.9 bytes a cycle; each transfer rounds up on its own.
    assert load_cycles(1) == 1 and load_cycles(164) == 1 and load_cycles(165) == 2
    assert load_cycles(192) == 2


def test_released_head_closed_form():
    # g = 1 global token, 100 sparse scores, DeiT-Tiny shapes (h = 3, d = 64, h' = 2):
    # dense lines int(64 * 197 / 297) = 42, sparse 22; SDDMM max(1 * ceil(197/42) * 3,
    # ceil(100/22) * 3) = 15; SpMM max(ceil(197*64/int(42*64/3)), ceil(6400/int(22*64/3)))
    # = max(15, 14) = 15.
    head = released_head(197, 197, 1, 100, n_heads=3, head_dim=64, compressed_heads=2)
    assert head.sddmm == 15
    assert head.spmm == 15
    assert head.pre == 2 * 197  # one cycle per Q and K row
    assert head.loads == 4 * 197 + 3  # Q, K rows 1 cycle, V rows 2, three decoder loads


def test_released_mode_needs_its_clock(real_trace, hw):
    from vitsim.errors import VitsimError
    from vitsim.hw_configs.loader import apply_overrides

    with pytest.raises(VitsimError, match="500 MHz"):
        simulate(real_trace, apply_overrides(hw, ["clock_mhz=400"]))


def test_simulate_json_reports_the_attention_scope_and_power(real_trace):
    from vitsim.analysis.compare import accelerator_scoped
    from vitsim.analysis.runs import summary_document

    for name in ("vitcod", "vitcod-released"):
        result = simulate(real_trace, load_hardware(name))
        doc = summary_document(result)
        scoped = accelerator_scoped(result)
        assert doc["attention_energy_mj"] == scoped.energy_mj["attention"]
        assert doc["average_power_mw"] == pytest.approx(doc["energy_mj"] / doc["latency_ms"] * 1e3)
        if name == "vitcod-released":
            assert doc["attention_cycles"] == pytest.approx(9492)
