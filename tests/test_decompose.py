"""The walk from ViTCoD's released simulator to vitsim's default, and its place in reproduce.

The released steps are the released formulas under the readings of
:class:`~vitsim.simulator.released.ReleasedReading`; on the real DeiT-Tiny mask their values
were computed independently by the clean-room twin (``benchmarks/released/released_model.py``,
``honest_512_attention_cycles``: literal 39,512; without the per-row ceilings 28,874).
"""

from __future__ import annotations

import math

import pytest

from vitsim.analysis.decompose import (
    RELEASED_STEPS,
    VITSIM_STEPS,
    WHAT_IFS,
    attention_cycles,
    decompose,
    decomposition_markdown,
)
from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import load_hardware
from vitsim.simulator.released import ReleasedReading, released_attention, released_totals
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file, trace_synthetic


@pytest.fixture
def real_trace(real_mask_path):
    return trace_mask_file(real_mask_path, get_spec("deit-tiny"), convention="pruned")


@pytest.fixture
def steps(real_trace):
    return decompose(real_trace)


def test_released_steps_on_the_real_mask(steps):
    released = [s.attention_cycles for s in steps if s.family == "released"]
    # exact release; 512 MACs with head 0 x 3 heads; every head's own mask (the twin's
    # literal honest reading); without per-row ceilings (the twin's unrounded reading)
    assert released == [9_492, 51_822, 39_512, 28_874]


def test_the_walk_ends_at_the_default(steps, real_trace):
    vitsim_steps = [s for s in steps if s.family == "vitsim"]
    assert len(vitsim_steps) == len(VITSIM_STEPS)
    default = attention_cycles(simulate(real_trace, load_hardware("vitcod")))
    assert vitsim_steps[-1].attention_cycles == default
    # every factor is the ratio to the previous step, so they multiply out to the whole gap
    chain = [s for s in steps if s.family != "what-if"]
    product = math.prod(s.factor for s in chain[1:])
    assert product == pytest.approx(chain[-1].attention_cycles / chain[0].attention_cycles)
    assert len([s for s in steps if s.family == "what-if"]) == len(WHAT_IFS)


def test_exact_release_is_the_reference_mode(real_trace):
    hw = load_hardware("vitcod-released")
    got = released_attention(real_trace, hw, RELEASED_STEPS[0][1])
    ref = released_totals(real_trace, hw)
    assert (got.loads, got.pre, got.compute) == (ref.attention_loads, ref.attention_pre,
                                                 ref.attention_compute)


def test_serial_heads_with_head_zero_multiply_by_the_head_count():
    trace = trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=1)
    hw = load_hardware("vitcod-released")
    one = released_attention(trace, hw, ReleasedReading(array_cols=8 * 3, heads_parallel=True))
    serial = released_attention(trace, hw, ReleasedReading(array_cols=8, heads_parallel=False))
    # 8 x 3 columns shared by 3 heads gives each head 8 MACs a line, as serial heads have
    assert serial.compute == 3 * one.compute
    assert serial.pre == 3 * one.pre


def test_parallel_heads_with_their_own_masks_are_refused(real_trace):
    with pytest.raises(VitsimError, match="head 0"):
        released_attention(real_trace, load_hardware("vitcod-released"),
                           ReleasedReading(every_head=True))


def test_markdown_lists_every_step(steps):
    md = decomposition_markdown({"deit-tiny": steps})
    assert md.count("\n") == len(steps) + 2
    assert "9,492" in md and "x)" in md
