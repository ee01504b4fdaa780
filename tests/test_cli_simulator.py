"""Smoke tests of ``simulate``, ``gemm`` and ``validate`` through ``cli.main([...])``.

Bad inputs end with exit status 2 and one line on stderr naming what is wrong, and leave
what exists on disk as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_runner import run

from vitsim.analysis.cli import main
from vitsim.hw_configs.loader import hardware_from_dict, load_hardware, preset_path
from vitsim.workloads.model_spec import build_vit, get_spec
from vitsim.workloads.pipeline import trace_synthetic
from vitsim.workloads.trace import build_trace

ROOT = Path(__file__).resolve().parents[1]
SIMULATE = ("simulate", "--hw", "vitcod", "--model", "deit-tiny", "--sparsity", "0.9")
GEMM = ("gemm", "--array", "32x32", "--dataflow", "os", "--m", "197", "--k", "192",
        "--n", "576")


def run_json(capsys, *argv) -> dict:
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def simulate_doc() -> dict:
    """The ``simulate --json`` document of deit-tiny at 0.9 on vitcod (made once; capsys is
    per test, so stdout is redirected by hand)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main([*SIMULATE, "--json"])
    assert rc == 0
    return json.loads(buf.getvalue())


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# ----------------------------------------------------------------------------- simulate


def test_simulate_json_document(simulate_doc):
    doc = simulate_doc
    assert doc["model"] == "deit-tiny" and doc["hardware"] == "vitcod"
    for key in ("total_cycles", "latency_ms", "energy_mj", "mac_utilization"):
        assert isinstance(doc[key], float) and doc[key] > 0
    assert isinstance(doc["dram_bytes"], int) and doc["dram_bytes"] > 0
    assert doc["latency_ms"] == pytest.approx(doc["total_cycles"] / 500e6 * 1e3, rel=1e-12)
    assert 0 < doc["mac_utilization"] <= 1
    stages = doc["stages"]
    assert stages and all({"name", "cycles", "energy_mj"} <= set(s) for s in stages)
    names = [s["name"] for s in stages]
    assert len(names) == len(set(names))
    assert {"qkv", "qk", "softmax", "sv", "proj", "fc1", "fc2"} <= set(names)
    assert sum(s["cycles"] for s in stages) == pytest.approx(doc["total_cycles"], rel=1e-12)
    assert sum(s["energy_mj"] for s in stages) == pytest.approx(doc["energy_mj"], rel=1e-9)


def test_simulate_text_output(capsys):
    rc, out, err = run(capsys, *SIMULATE)
    assert rc == 0, err
    first, *table = out.splitlines()
    assert first.startswith("deit-tiny on vitcod: ")
    for word in ("cycles", "ms", "mJ", "MAC utilization", "DRAM"):
        assert word in first
    header = table[0].split()
    assert header[0] == "stage" and "cycles" in header and "share" in header
    assert any(line.split()[0] == "qk" for line in table[1:])


def test_simulate_trace_file_matches_synthetic_model(capsys, tmp_path, simulate_doc):
    path = tmp_path / "deit_tiny.npz"
    trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0).save(path)
    doc = run_json(capsys, "simulate", "--hw", "vitcod", "--trace", path)
    assert doc["trace_hash"] == simulate_doc["trace_hash"]
    assert doc["total_cycles"] == simulate_doc["total_cycles"]
    assert doc["energy_mj"] == simulate_doc["energy_mj"]


def test_simulate_trace_with_sparsity_is_refused(capsys, tmp_path):
    path = tmp_path / "t.npz"
    spec = build_vit("tiny", embed_dim=16, depth=1, n_heads=2, image_size=8, patch_size=4)
    build_trace(spec, [np.ones((2, 5, 5), dtype=bool)]).save(path)
    rc, _, err = run(capsys, "simulate", "--hw", "vitcod", "--trace", path, "--sparsity", "0.5")
    assert rc == 2
    assert "--sparsity" in one_error_line(err)


def test_simulate_set_override_changes_cycles(capsys, simulate_doc):
    doc = run_json(capsys, *SIMULATE, "--set", "dram.bandwidth_gb_per_s=153.6")
    assert doc["total_cycles"] < simulate_doc["total_cycles"]
    assert doc["macs"] == simulate_doc["macs"]


def test_simulate_out_writes_run_dir_and_never_overwrites(capsys, tmp_path):
    out_dir = tmp_path / "run1"
    rc, out, err = run(capsys, *SIMULATE, "--out", out_dir)
    assert rc == 0, err
    assert f"run directory: {out_dir}" in out
    assert {p.name for p in out_dir.iterdir()} == {"hardware.yaml", "run.json",
                                                   "summary.json", "stages.csv"}
    hw_text = (out_dir / "hardware.yaml").read_text(encoding="utf-8")
    assert hardware_from_dict(yaml.safe_load(hw_text)) == load_hardware("vitcod")
    run_doc = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    assert run_doc["inputs"]["model"] == "deit-tiny"
    assert run_doc["inputs"]["sparsity"] == 0.9
    assert {"numpy", "numba", "python"} <= set(run_doc["versions"])
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["trace_hash"] == run_doc["trace_hash"]
    stages = pd.read_csv(out_dir / "stages.csv")
    assert stages["total_cycles"].sum() == pytest.approx(summary["total_cycles"], rel=1e-9)

    before = snapshot(out_dir)
    rc, out, err = run(capsys, *SIMULATE, "--set", "dram.bandwidth_gb_per_s=153.6",
                       "--out", out_dir)
    assert rc == 2
    assert out == ""
    line = one_error_line(err)
    assert str(out_dir) in line and "not empty" in line
    assert snapshot(out_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1"]  # no stray temp dir


def test_simulate_out_that_is_a_file_exits_2(capsys, tmp_path):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    rc, out, err = run(capsys, *SIMULATE, "--out", existing)
    assert out == ""
    assert rc == 2
    assert str(existing) in one_error_line(err)
    assert existing.read_text() == "keep me"


# ----------------------------------------------------------------------------- gemm


def test_gemm_ideal_closed_form(capsys):
    # Output stationary: (M, N) = (197, 576) on 32 x 32 -> 7 x 18 = 126 folds of T = K = 192
    # cycles, each with 32 + 32 - 2 = 62 cycles of fill and drain (SCALE-Sim v3).
    doc = run_json(capsys, *GEMM)
    assert doc["compute_cycles"] == 126 * 192
    assert doc["total_cycles"] == 126 * (192 + 62)
    assert doc["macs"] == 197 * 192 * 576
    assert doc["mac_utilization"] == pytest.approx(197 * 192 * 576 / (126 * 254 * 1024))


def test_gemm_with_hardware_adds_memory(capsys):
    ideal = run_json(capsys, *GEMM)
    doc = run_json(capsys, *GEMM, "--hw", "vitcod")
    assert doc["hw"] == "vitcod"
    assert doc["compute_cycles"] == ideal["compute_cycles"]
    assert doc["total_cycles"] >= ideal["total_cycles"]
    assert doc["stall_cycles"] >= 0
    # At least A, B and C cross DRAM once.
    assert doc["dram_bytes"] >= 197 * 192 + 192 * 576 + 197 * 576
    assert 0 < doc["mac_utilization"] <= ideal["mac_utilization"]


def test_gemm_text_output(capsys):
    rc, out, err = run(capsys, *GEMM)
    assert rc == 0, err
    fields = dict(line.split(maxsplit=1) for line in out.splitlines())
    assert int(fields["total_cycles"]) == 126 * 254


def test_gemm_bad_array_exits_2(capsys):
    rc, _, err = run(capsys, "gemm", "--array", "32by32", "--dataflow", "os", "--m", "1",
                     "--k", "1", "--n", "1")
    assert rc == 2
    assert "--array" in one_error_line(err)


# ----------------------------------------------------------------------------- validate


def test_validate_preset_prints_yaml(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    rc, out, err = run(capsys, "validate", "hw_configs/presets/accelerators/vitcod.yaml")
    assert rc == 0, err
    assert hardware_from_dict(yaml.safe_load(out)) == load_hardware("vitcod")


def test_validate_bad_file_names_file_and_key(capsys, tmp_path):
    text = preset_path("vitcod").read_text(encoding="utf-8")
    assert "  n_lines: 64" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  n_lines: 64", "  n_lnes: 64"), encoding="utf-8")
    rc, out, err = run(capsys, "validate", bad)
    assert rc == 2
    assert out == ""
    line = one_error_line(err)
    assert str(bad) in line and "mac_array.n_lnes" in line


def test_bad_set_path_exits_2(capsys):
    rc, out, err = run(capsys, *SIMULATE, "--set", "dram.bandwith_gb_per_s=153.6")
    assert rc == 2
    assert out == ""
    line = one_error_line(err)
    assert "dram.bandwith_gb_per_s" in line and "bandwidth_gb_per_s" in line


def test_unknown_hardware_preset_exits_2(capsys):
    rc, out, err = run(capsys, "simulate", "--hw", "no-such-design", "--model", "deit-tiny",
                       "--sparsity", "0.9")
    assert rc == 2
    assert out == ""
    line = one_error_line(err)
    assert "no-such-design" in line and "vitcod" in line


def test_simulate_json_numbers_are_finite(simulate_doc):
    for key, value in simulate_doc.items():
        if isinstance(value, float):
            assert math.isfinite(value), key
