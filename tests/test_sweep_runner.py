"""Running sweeps: the same table from every runner, failures recorded, and resuming after a
stop, a crash or a SIGKILL giving exactly the rows of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vitsim.analysis.sweeps import runner as sweep_runner
from vitsim.analysis.sweeps.runner import SweepDir, load_results, plan_chunks, run_sweep
from vitsim.analysis.sweeps.spec import expand_sweep, load_sweep
from vitsim.errors import VitsimError

# 3 x 2 x 3 = 18 points on two workloads; the 0-line designs (6 points) are impossible.
TINY = """\
name: tiny
base:
  hardware: vitcod
  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 0}
axes:
  hardware.dram.bandwidth_gb_per_s: [25.6, 76.8, 153.6]
  workload.sparsity: [0.8, 0.9]
  hardware.mac_array.n_lines: [0, 32, 64]
metrics: [latency_ms, energy_mj, mac_utilization, dense_engine_utilization,
          sparse_engine_utilization]
"""
# 10 x 4 x 3 = 120 points on one workload: long enough to kill half-way.
LONG = """\
name: long
base:
  hardware: vitcod
  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 1}
axes:
  hardware.dram.bandwidth_gb_per_s: {low: 20, high: 200, steps: 10}
  hardware.mac_array.n_lines: [16, 32, 64, 128]
  hardware.allocation.policy: [static, proportional, search]
metrics: [latency_ms, energy_mj]
"""


def spec_file(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(spec file, serial table) of TINY, run once for the module."""
    root = tmp_path_factory.mktemp("tiny")
    path = spec_file(root, TINY, "tiny")
    outcome = run_sweep(load_sweep(path), root / "serial", runner="serial", progress=False)
    assert outcome.complete
    return path, load_results(root / "serial")


def test_serial_table(tiny) -> None:
    path, table = tiny
    assert len(table) == 18
    assert list(table["point"]) == list(range(18))
    assert table["point_hash"].is_unique
    assert list(table.columns[:4]) == ["point", "hardware.dram.bandwidth_gb_per_s",
                                       "workload.sparsity", "hardware.mac_array.n_lines"]
    failed = table[table["status"] == "failed"]
    assert set(failed["hardware.mac_array.n_lines"]) == {0} and len(failed) == 6
    assert failed["error"].str.contains("mac_array.n_lines: must be a positive integer").all()
    assert failed["latency_ms"].isna().all()
    ok = table[table["status"] == "ok"]
    assert ok["error"].isna().all()
    assert np.isfinite(ok[["latency_ms", "energy_mj", "mac_utilization"]].to_numpy()).all()
    assert (ok["latency_ms"] > 0).all()
    assert ok["trace_hash"].nunique() == 2  # one trace per sparsity
    assert set(ok["total_macs"]) == {256, 512}
    # More bandwidth never slows the same design down.
    for _, group in ok.groupby(["workload.sparsity", "hardware.mac_array.n_lines"]):
        lat = group.sort_values("hardware.dram.bandwidth_gb_per_s")["latency_ms"].to_numpy()
        assert (np.diff(lat) <= 1e-12).all()
    doc = SweepDir(path.parent / "serial").manifest()
    assert doc["status"] == "complete" and doc["n_failed"] == 6 and doc["n_points"] == 18
    assert len(doc["traces"]) == 2


def test_processes_give_the_serial_table(tiny, tmp_path: Path) -> None:
    path, serial = tiny
    outcome = run_sweep(load_sweep(path), tmp_path / "p", runner="processes", workers=2,
                        chunk_size=2, progress=False)
    assert outcome.runner == "processes" and outcome.workers == 2
    pd.testing.assert_frame_equal(load_results(tmp_path / "p"), serial)


def test_dask_local_cluster_gives_the_serial_table(tiny, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    path, serial = tiny
    outcome = run_sweep(load_sweep(path), tmp_path / "d", runner="dask", dask_local=2,
                        dask_processes=False, chunk_size=3, progress=False)
    assert outcome.runner == "dask" and outcome.workers == 2
    pd.testing.assert_frame_equal(load_results(tmp_path / "d"), serial)


def test_resume_after_a_stop_skips_done_points_and_reuses_traces(tiny, tmp_path: Path,
                                                                  monkeypatch) -> None:
    path, serial = tiny
    out = tmp_path / "r"
    first = run_sweep(load_sweep(path), out, runner="serial", limit=5, chunk_size=2,
                      progress=False)
    assert not first.complete and first.n_evaluated == 5 and first.results is None
    assert not (out / "results.parquet").exists()
    assert SweepDir(out).manifest()["status"] == "incomplete"
    with pytest.raises(VitsimError, match="sweep is not finished"):
        load_results(out)

    assert len(list((out / "traces").glob("*.npz"))) == 1  # only the first workload's
    built = []
    real = sweep_runner.build_trace_bytes

    def counting(workload):
        built.append(workload.sparsity)
        return real(workload)

    monkeypatch.setattr(sweep_runner, "build_trace_bytes", counting)
    second = run_sweep(load_sweep(path), out, runner="serial", resume=True, progress=False)
    assert second.complete and second.n_skipped == 5 and second.n_evaluated == 12 - 5
    assert built == [0.9]  # the 0.8 trace came from the sweep directory
    pd.testing.assert_frame_equal(load_results(out), serial)
    # A third resume finds nothing to do and writes the same table.
    third = run_sweep(load_sweep(path), out, runner="serial", resume=True, progress=False)
    assert third.n_evaluated == 0 and third.n_skipped == 12 and built == [0.9]
    pd.testing.assert_frame_equal(load_results(out), serial)
    assert len(SweepDir(out).manifest()["runs"]) == 3


def test_resume_after_a_crash_in_the_parent(tiny, tmp_path: Path) -> None:
    path, serial = tiny
    out = tmp_path / "c"

    def crash(done: int) -> None:
        if done >= 4:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_sweep(load_sweep(path), out, runner="processes", workers=2, chunk_size=2,
                  progress=False, on_part=crash)
    done = SweepDir(out).read_parts("parquet")
    assert 4 <= len(done) < 12
    outcome = run_sweep(load_sweep(path), out, runner="serial", resume=True, progress=False)
    assert outcome.n_skipped == len(done)
    pd.testing.assert_frame_equal(load_results(out), serial)


def test_sigkill_half_way_then_resume_gives_the_uninterrupted_table(tmp_path: Path) -> None:
    path = spec_file(tmp_path, LONG, "long")
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vitsim", "sweep", str(path), "--out", str(out),
           "--serial", "--chunk-size", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = out / "parts"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 10:
                break
            time.sleep(0.002)
        assert proc.poll() is None, f"the sweep ended before it was killed: " \
                                    f"{proc.stderr.read().decode()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "results.parquet").exists()
    n_done = len(SweepDir(out).read_parts("parquet"))
    assert 10 <= n_done < 120
    resumed = run_sweep(load_sweep(path), out, runner="serial", resume=True, progress=False)
    assert resumed.complete and resumed.n_skipped == n_done
    assert resumed.n_evaluated == 120 - n_done
    whole = run_sweep(load_sweep(path), tmp_path / "whole", runner="serial", progress=False)
    assert whole.complete
    table = load_results(out)
    assert len(table) == 120 and table["point_hash"].is_unique
    pd.testing.assert_frame_equal(table, load_results(tmp_path / "whole"))
    assert not [p for p in parts.iterdir() if p.name.startswith(".")]


def test_an_existing_directory_is_never_overwritten(tiny, tmp_path: Path) -> None:
    path, _ = tiny
    spec = load_sweep(path)
    with pytest.raises(VitsimError, match="holds a sweep already; add --resume"):
        run_sweep(spec, path.parent / "serial", runner="serial", progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(VitsimError, match="is not a sweep directory"):
        run_sweep(spec, other, runner="serial", progress=False)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    changed = spec_file(tmp_path, TINY.replace("[25.6, 76.8, 153.6]", "[25.6, 76.8]"), "c")
    with pytest.raises(VitsimError, match="started from a spec with other points"):
        run_sweep(load_sweep(changed), path.parent / "serial", runner="serial", resume=True,
                  progress=False)


def test_csv_tables_hold_the_same_values(tiny, tmp_path: Path) -> None:
    path, serial = tiny
    run_sweep(load_sweep(path), tmp_path / "csv", runner="serial", fmt="csv", progress=False)
    assert (tmp_path / "csv" / "results.csv").is_file()
    assert not list((tmp_path / "csv" / "parts").glob("*.parquet"))
    table = load_results(tmp_path / "csv")
    pd.testing.assert_frame_equal(table, serial, check_dtype=False)


def test_a_workload_that_cannot_be_built_fails_its_points_only(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npy"
    np.save(garbage, np.zeros((2, 2)))
    path = spec_file(tmp_path, TINY.replace(
        "  workload.sparsity: [0.8, 0.9]\n", "  workload.source: [synthetic, mask]\n").replace(
        "[0, 32, 64]", "[64]"), "w")
    # The mask source needs a mask and no sparsity/seed: an impossible workload per point.
    table_outcome = run_sweep(load_sweep(path), tmp_path / "o", runner="serial",
                              progress=False)
    table = load_results(tmp_path / "o")
    assert table_outcome.complete and len(table) == 6
    bad = table[table["workload.source"] == "mask"]
    assert (bad["status"] == "failed").all()
    assert bad["error"].str.startswith("workload: source mask").all()
    assert (table[table["workload.source"] == "synthetic"]["status"] == "ok").all()
    # A mask file that exists but is not a mask fails at build time, in the worker.
    mask_spec = spec_file(tmp_path, f"""\
name: masks
base:
  hardware: vitcod
  workload: {{source: mask, model: deit-tiny, mask: {garbage.name}}}
axes:
  hardware.dram.bandwidth_gb_per_s: [25.6, 76.8]
""", "m")
    outcome = run_sweep(load_sweep(mask_spec), tmp_path / "m", runner="serial", progress=False)
    masks = load_results(tmp_path / "m")
    assert outcome.complete and (masks["status"] == "failed").all()
    assert masks["error"].str.contains("garbage.npy").all()
    assert not list((tmp_path / "m" / "traces").glob("*.npz"))


def test_chunks_never_span_two_workloads() -> None:
    spec_text = TINY.replace("[0, 32, 64]", "[16, 32, 64]")
    from vitsim.analysis.sweeps.spec import sweep_from_text

    e = expand_sweep(sweep_from_text(spec_text, source="t.yaml", base_dir="."))
    units = sweep_runner._units(e, set())
    assert len(units) == 18
    chunks = plan_chunks(units, workers=2, chunk_size=4)
    assert sum(len(c) for c in chunks) == 18
    assert all(len(c) <= 4 and len({u[2] for u in c}) == 1 for c in chunks)
    default = plan_chunks(units, workers=2)
    assert all(len(c) <= sweep_runner.MAX_CHUNK for c in default)
    assert len(default) >= 2


def test_baselines_add_ratio_columns_equal_to_compare(tmp_path):
    """A sweep's baselines give speedup_* / energy_efficiency_* per scope, the numbers
    `vitsim compare` gives for the same point (a peer normalised to each point's design)."""
    from vitsim.analysis.compare import compare
    from vitsim.hw_configs.loader import apply_overrides, load_hardware
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic

    text = TINY.replace("  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, "
                        "seed: 0}\n", "  workload: {source: synthetic, model: deit-tiny, "
                        "sparsity: 0.9, seed: 0}\n  baselines: [sanger, jetson-tx2]\n")
    text = text.replace("[0, 32, 64]", "[32, 64]").replace("[25.6, 76.8, 153.6]", "[76.8]")
    run_sweep(load_sweep(spec_file(tmp_path, text, "bl")), tmp_path / "out",
              runner="serial", progress=False)
    table = load_results(tmp_path / "out")
    row = table[(table["workload.sparsity"] == 0.9)
                & (table["hardware.mac_array.n_lines"] == 32)].iloc[0]
    hw = apply_overrides(load_hardware("vitcod"), {"mac_array.n_lines": 32})
    trace = trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)
    _, _, rows = compare(trace, hw, ["sanger", "jetson-tx2"])
    for r in rows:
        assert row[f"speedup_{r.baseline}_{r.scope}"] == pytest.approx(r.speedup, rel=1e-9)
        assert row[f"energy_efficiency_{r.baseline}_{r.scope}"] == pytest.approx(
            r.energy_efficiency, rel=1e-9)


def test_resume_with_other_baselines_is_refused(tmp_path):
    """A point's row holds its ratios over the spec's baselines, so a resume with another
    baseline list is another sweep: refused, rather than a table with holes."""
    plain = spec_file(tmp_path, LONG, "plain")
    with_bl = spec_file(tmp_path, LONG.replace(
        "seed: 1}\n", "seed: 1}\n  baselines: [jetson-tx2]\n"), "with_bl")
    out = tmp_path / "out"
    run_sweep(load_sweep(plain), out, runner="serial", progress=False, limit=3)
    with pytest.raises(VitsimError, match="other points"):
        run_sweep(load_sweep(with_bl), out, runner="serial", progress=False, resume=True)
