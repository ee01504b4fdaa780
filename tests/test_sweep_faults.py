"""Sweeps that survive a lost worker: a real worker process is killed mid-sweep (a Dask worker
of a local cluster of separate processes; a process of the pool) and the sweep finishes on its
own with exactly the serial table. Also: the retry budget ends in one line naming --resume,
and damaged part or trace files are moved aside and recomputed."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from vitsim.analysis.cli import main
from vitsim.analysis.sweeps import runner as sweep_runner
from vitsim.analysis.sweeps.runner import SweepAborted, load_results, run_sweep
from vitsim.analysis.sweeps.spec import load_sweep

# 4 x 3 = 12 points on one workload, in chunks of 2: six tasks, enough to kill one mid-way.
SPEC = """\
name: faults
base:
  hardware: vitcod
  workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 0}
axes:
  hardware.dram.bandwidth_gb_per_s: [25.6, 51.2, 76.8, 153.6]
  hardware.mac_array.n_lines: [16, 32, 64]
metrics: [latency_ms, energy_mj]
"""


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    path = root / "faults.yaml"
    path.write_text(SPEC, encoding="utf-8")
    outcome = run_sweep(load_sweep(path), root / "serial", runner="serial", progress=False)
    assert outcome.complete
    return path, load_results(root / "serial")


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_killing_a_pool_process_mid_sweep_restarts_the_pool(serial, tmp_path: Path) -> None:
    path, table = serial
    killed: list[int] = []

    def kill_one(n_done: int) -> None:
        if not killed:
            victim = multiprocessing.active_children()[0]
            killed.append(victim.pid)
            os.kill(victim.pid, signal.SIGKILL)

    outcome = run_sweep(load_sweep(path), tmp_path / "p", runner="processes", workers=2,
                        chunk_size=2, progress=False, on_part=kill_one)
    assert killed and outcome.complete
    _same_table(load_results(tmp_path / "p"), table)


def test_killing_a_dask_worker_process_mid_sweep(serial, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    path, table = serial
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = sorted(client.run(os.getpid).values())
        killed: list[int] = []

        def kill_one(n_done: int) -> None:
            if not killed:
                killed.append(pids[0])
                os.kill(pids[0], signal.SIGKILL)

        outcome = run_sweep(load_sweep(path), tmp_path / "d", runner="dask",
                            scheduler=cluster.scheduler_address, chunk_size=2, progress=False,
                            on_part=kill_one)
    assert killed and outcome.complete and outcome.runner == "dask"
    _same_table(load_results(tmp_path / "d"), table)


class _AlwaysLost(sweep_runner._Serial):
    """A backend whose every chunk is lost with its worker."""

    def next_done(self):
        handle, fn, args = self.queue.pop(0)
        if fn is sweep_runner.evaluate_chunk:
            return handle, None, ConnectionResetError("worker lost")
        return handle, fn(*args), None


def test_past_the_retry_budget_one_line_names_resume(serial, tmp_path: Path, monkeypatch,
                                                     capsys) -> None:
    path, _ = serial
    monkeypatch.setattr(sweep_runner, "_Serial", _AlwaysLost)
    with pytest.raises(SweepAborted, match="lost 3 times"):
        run_sweep(load_sweep(path), tmp_path / "a", runner="serial", retries=2,
                  progress=False)
    out = tmp_path / "b"
    assert main(["sweep", str(path), "--out", str(out), "--serial", "--retries", "1",
                 "--no-progress"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(lines)
    # Each retry is a warning line; the failure is one line naming the --resume command.
    assert all(line.startswith("vitsim: WARNING: a chunk task was lost") for line in lines[:-1])
    assert lines[-1].startswith("vitsim: error: ") and "lost 2 times" in lines[-1]
    assert lines[-1].endswith(f"--out {out} --resume")


def test_a_damaged_part_is_moved_aside_and_recomputed(serial, tmp_path: Path) -> None:
    path, table = serial
    out = tmp_path / "s"
    run_sweep(load_sweep(path), out, runner="serial", chunk_size=4, limit=8, progress=False)
    parts = sorted((out / "parts").glob("part-*"))
    assert len(parts) == 2
    parts[0].write_bytes(parts[0].read_bytes()[:40])  # truncated
    trace = next((out / "traces").glob("*.npz"))
    trace.write_bytes(trace.read_bytes()[:100])
    outcome = run_sweep(load_sweep(path), out, runner="serial", resume=True, progress=False)
    assert outcome.complete and outcome.n_evaluated == 8  # 4 recomputed + 4 never done
    assert (out / "parts" / (parts[0].name + ".damaged")).is_file()
    assert (out / "traces" / (trace.name + ".damaged")).is_file()
    _same_table(load_results(out), table)


def test_a_dask_client_whose_loop_never_starts_is_one_line():
    """distributed asserts when its IO-loop thread has not started within 10 s (a loaded
    host); that is a connection failure, said in one line, not a traceback."""
    from vitsim.analysis.sweeps.runner import _connect
    from vitsim.errors import VitsimError

    class StuckClient:
        def __init__(self, *args, **kwargs):
            raise AssertionError

    with pytest.raises(VitsimError, match="event loop did not start") as info:
        _connect(StuckClient, "tcp://127.0.0.1:1")
    assert info.value.source == "--scheduler tcp://127.0.0.1:1"
