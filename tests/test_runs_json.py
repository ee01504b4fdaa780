"""``vitsim simulate --json`` builds its stage list without pandas: the same numbers as the
pandas table (:func:`vitsim.analysis.frames.by_stage`), bit for bit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vitsim.analysis.frames import by_stage
from vitsim.analysis.runs import stage_rows
from vitsim.hw_configs.loader import load_hardware
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic


@pytest.mark.parametrize(("model", "hw_name", "sparsity"), [
    ("deit-tiny", "vitcod", 0.9), ("deit-small", "systolic-os", 0.8),
    ("levit-128", "vitcod", 0.95), ("deit-tiny", "vitcod-released", 0.9),
    ("deit-tiny", "systolic-ws", 0.5),
])
def test_stage_rows_equal_the_pandas_table_bit_for_bit(model, hw_name, sparsity):
    trace = trace_synthetic(get_spec(model), sparsity=sparsity, seed=1)
    result = simulate(trace, load_hardware(hw_name))
    frame = by_stage(result)
    expected = [{"name": str(r.stage), "cycles": float(r.cycles),
                 "energy_mj": float(r.energy_mj), "dram_bytes": int(r.dram_bytes),
                 "macs": int(r.macs)} for r in frame.itertuples(index=False)]
    assert stage_rows(result) == expected  # == on floats: identical bits


def test_simulate_json_imports_no_pandas(tmp_path):
    code = ("import sys; from vitsim.analysis.cli import main; "
            "main(['simulate', '--hw', 'vitcod', '--model', 'deit-tiny', '--sparsity', '0.9', "
            "'--json']); assert 'pandas' not in sys.modules, 'pandas was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert '"stages"' in done.stdout
