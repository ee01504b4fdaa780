"""Running a sweep: serially, on local processes, or on a Dask cluster; resumable.

A sweep directory holds::

    spec.yaml            the spec as given (written once)
    sweep.json           the manifest: resolved spec, point counts, status, timings, versions
    parts/part-*.parquet results as they arrive, one file per finished chunk (CSV without pyarrow)
    results.parquet      the final table, one row per point sorted by point index (atomically)

Work is the set of distinct resolved points (a point's key hashes its resolved hardware and
workload), sorted by workload and cut into chunks; a worker builds each workload's trace once
and keeps it (:func:`evaluate_chunk`), so a 1,000-point sweep over five sparsities builds at
most five traces per worker. A chunk's results are written as one part file as soon as it
finishes, so a killed sweep loses only the chunks in flight, and ``resume`` skips every key
already in a part. The final table is assembled from the expansion's points joined with the
parts by key: it has exactly one row per point, whatever the runner or the interruptions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from vitsim.analysis.sweeps.spec import (
    AREA_COLUMNS,
    HASH_CHARS,
    Expansion,
    Point,
    SweepSpec,
    Workload,
    _one_line,
    expand_sweep,
    is_metric_column,
    known_metrics,
    sram_bytes,
)
from vitsim.atomic import atomic_output
from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import attribute_to_hardware
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.progress import ProgressBar

log = logging.getLogger("vitsim.sweep")

MANIFEST = "sweep.json"
SPEC_COPY = "spec.yaml"
PARTS = "parts"
RESULTS = "results"
RUNNERS = ("serial", "processes", "dask")
FORMATS = ("parquet", "csv")
TRACE_CACHE_SIZE = 4  # traces kept per worker (a DeiT-Base trace is a few MB)
MAX_CHUNK = 256  # points per task and per part file: a kill loses at most the chunks in flight
# (two workers x 256 DeiT-Base points is about 3 s of work), and a 10,000-point sweep writes
# 40 parts instead of 313 (writing a part costs tens of ms)
CHUNKS_PER_WORKER = 4  # enough tasks per worker to balance the load
RESULT_COLUMNS = ("point_hash", "status", "error", "trace_hash")
STATUS_OK = "ok"
STATUS_FAILED = "failed"

Unit = tuple[str, HardwareConfig, Workload]  # (point key, hardware, workload)
TRACES = "traces"


# --------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------

_TRACES: OrderedDict[str, Any] = OrderedDict()  # workload key -> WorkloadTrace
_TRACES_LOCK = threading.Lock()
_KEY_LOCKS: dict[str, threading.Lock] = {}


def build_trace_bytes(workload: Workload) -> tuple[bytes | None, str | None]:
    """Build a workload's trace; return its ``.npz`` file's bytes, or the one-line error.

    Bytes, because a trace travels to the sweep directory and to every worker as its file
    (the file format is the trace's exact, versioned form)."""
    try:
        trace = workload.build()
        with tempfile.TemporaryDirectory(prefix="vitsim-trace-") as tmp:
            path = Path(tmp) / "trace.npz"
            trace.save(path)
            return path.read_bytes(), None
    except Exception as err:  # every point of this workload fails with this error
        return None, _one_line(err)


def _load_trace(ref: str | bytes) -> Any:
    from vitsim.workloads.trace import WorkloadTrace

    if isinstance(ref, bytes):
        with tempfile.TemporaryDirectory(prefix="vitsim-trace-") as tmp:
            path = Path(tmp) / "trace.npz"
            path.write_bytes(ref)
            return WorkloadTrace.load(path)
    return WorkloadTrace.load(ref)


def _trace_of(key: str, ref: str | bytes) -> Any:
    """The trace of workload ``key`` from ``ref`` (its file, or the file's bytes), loaded once
    per worker process and shared by its threads."""
    with _TRACES_LOCK:
        if key in _TRACES:
            _TRACES.move_to_end(key)
            return _TRACES[key]
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:  # one thread loads; the others wait for it
        with _TRACES_LOCK:
            if key in _TRACES:
                return _TRACES[key]
        trace = _load_trace(ref)
        with _TRACES_LOCK:
            _TRACES[key] = trace
            while len(_TRACES) > TRACE_CACHE_SIZE:
                _TRACES.popitem(last=False)
        return trace


def metrics_of(result: Any) -> dict[str, float]:
    """Every known metric of a :class:`SimulationResult`, or of a prepared
    :class:`~vitsim.simulator.prepared.Evaluation` (the same numbers without its stage
    table), as floats (whole-run and the attention scope:
    :func:`vitsim.analysis.metrics.point_metrics`)."""
    from vitsim.analysis.metrics import point_metrics
    from vitsim.simulator.prepared import Evaluation

    if isinstance(result, Evaluation):
        return result.metrics()
    return point_metrics(result)


def baseline_metric_names(baselines: Sequence[str]) -> list[str]:
    """The columns a sweep's baselines add: ``speedup_<baseline>_<scope>`` and
    ``energy_efficiency_<baseline>_<scope>`` (a file baseline is named by its stem)."""
    from vitsim.analysis.compare import SCOPES

    return [f"{kind}_{_baseline_slug(b)}_{scope}" for b in baselines for scope in SCOPES
            for kind in ("speedup", "energy_efficiency")]


def _baseline_slug(name: str) -> str:
    return Path(name).stem if name.endswith((".yaml", ".yml", ".json")) else name


# Platform baselines do not depend on the design: one run per (workload, baseline) a worker.
_BASELINE_CACHE: dict[tuple[str, str], Any] = {}
# A peer normalised to a design depends on the design only through its resolved
# configuration (MACs, clock, bandwidth, buffers, energies; resolve_sanger/resolve_spatten):
# one run per (workload, peer, resolved configuration) a worker, the most recent kept.
_PEER_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
PEER_CACHE_SIZE = 512  # a DeiT-Base peer result is a few kB


def _resolved_peer(name: str, hw: HardwareConfig) -> Any:
    from vitsim.hw_configs.peers import SangerConfig, load_peer
    from vitsim.simulator.peers.sanger import resolve_sanger
    from vitsim.simulator.peers.spatten import resolve_spatten

    cfg = load_peer(name)
    return resolve_sanger(cfg, hw) if isinstance(cfg, SangerConfig) else resolve_spatten(cfg, hw)


def _peer_run(workload_key: str, name: str, trace: Any, hw: HardwareConfig) -> Any:
    """``run_baseline(name, trace, hw)`` for a peer preset, reused for every design with the
    same resolved peer configuration (the key also holds what the run's provenance names
    of the design: its MAC count and name)."""
    from vitsim.analysis.compare import run_baseline

    key = (workload_key, name, hw.total_macs, hw.name, _resolved_peer(name, hw))
    with _TRACES_LOCK:
        cached = _PEER_CACHE.get(key)
        if cached is not None:
            _PEER_CACHE.move_to_end(key)
            return cached
    cached = run_baseline(name, trace, hw)
    with _TRACES_LOCK:
        _PEER_CACHE[key] = cached
        while len(_PEER_CACHE) > PEER_CACHE_SIZE:
            _PEER_CACHE.popitem(last=False)
    return cached


def _baseline_metrics(workload_key: str, trace: Any, hw: HardwareConfig, result: Any,
                      baselines: Sequence[str]) -> dict[str, float]:
    from vitsim.analysis.compare import (
        accelerator_scoped,
        comparison_rows,
        evaluation_scoped,
        run_baseline,
    )
    from vitsim.hw_configs.peers import known_peers
    from vitsim.simulator.prepared import Evaluation

    runs = []
    for name in baselines:
        if name in known_peers():  # normalised to each point's design
            runs.append((name, _peer_run(workload_key, name, trace, hw)))
            continue
        key = (workload_key, name)
        with _TRACES_LOCK:
            cached = _BASELINE_CACHE.get(key)
        if cached is None:
            cached = run_baseline(name, trace, hw)
            with _TRACES_LOCK:
                _BASELINE_CACHE[key] = cached
        runs.append((name, cached))
    out: dict[str, float] = {}
    scoped = evaluation_scoped(result) if isinstance(result, Evaluation) \
        else accelerator_scoped(result)
    for row in comparison_rows(trace.spec.name, hw.name, scoped, runs):
        slug = _baseline_slug(row.baseline)
        out[f"speedup_{slug}_{row.scope}"] = row.speedup
        out[f"energy_efficiency_{slug}_{row.scope}"] = row.energy_efficiency
    return out


def evaluate_chunk(workload_key: str, trace_ref: str | bytes,
                   units: Sequence[tuple[str, HardwareConfig]],
                   baselines: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Simulate every ``(point key, hardware)`` of one workload, with its ratios over each
    baseline; a failing point becomes a record with its one-line error.

    The trace is prepared once per worker (:func:`vitsim.simulator.prepared.prepared` keeps
    it while the trace is cached here) and each point evaluated to its totals: no stage
    table is built."""
    from vitsim.simulator.prepared import evaluate, prepared

    try:
        trace = _trace_of(workload_key, trace_ref)
    except Exception as err:
        return [{"point_hash": key, "status": STATUS_FAILED, "error": _one_line(err)}
                for key, _ in units]
    records = []
    for key, hw in units:
        record: dict[str, Any] = {"point_hash": key}
        try:
            result = evaluate(prepared(trace), hw)
            record.update(status=STATUS_OK, error=None, trace_hash=trace.content_hash(),
                          **metrics_of(result))
            if baselines:
                record.update(_baseline_metrics(workload_key, trace, hw, result, baselines))
        except Exception as err:  # recorded; the sweep goes on
            if isinstance(err, VitsimError):
                attribute_to_hardware(err, f"hardware {hw.name}")
            record.update(status=STATUS_FAILED, error=_one_line(err))
        records.append(record)
    return records


# --------------------------------------------------------------------------------------
# Backends: each runs submitted calls and hands back whichever finishes next
# --------------------------------------------------------------------------------------


class _Backend:
    name = ""
    workers = 1
    dashboard: str | None = None  # the cluster's dashboard address, when it has one

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start ``fn(*args)``; return a handle."""
        raise NotImplementedError

    def next_done(self) -> tuple[Any, Any, BaseException | None]:
        """Wait for a submitted call to finish: ``(handle, result, None)``, or
        ``(handle, None, error)`` when the call was lost (its worker died, its pool broke)."""
        raise NotImplementedError

    @property
    def pending(self) -> int:
        raise NotImplementedError

    def trace_ref(self, path: Path) -> Any:
        """What a chunk task is given to find its trace: the file's path on this machine."""
        return str(path)

    def close(self) -> None:
        pass


class _Serial(_Backend):
    name = "serial"

    def __init__(self) -> None:
        self.queue: list[tuple[int, Callable[..., Any], tuple]] = []
        self.count = 0

    def submit(self, fn, *args):
        self.count += 1
        self.queue.append((self.count, fn, args))
        return self.count

    def next_done(self):
        handle, fn, args = self.queue.pop(0)
        return handle, fn(*args), None

    @property
    def pending(self) -> int:
        return len(self.queue)


class _Processes(_Backend):
    """A local process pool. One killed process breaks the whole pool (every call in flight
    fails with BrokenProcessPool); the next submit starts a fresh pool, and the run loop
    resubmits the lost calls."""

    name = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = self._new_pool()
        self.futures: set[Any] = set()
        self.restarts = 0

    def _new_pool(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.workers)

    def submit(self, fn, *args):
        from concurrent.futures.process import BrokenProcessPool

        try:
            fut = self.pool.submit(fn, *args)
        except BrokenProcessPool:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            self.restarts += 1
            log.warning("a worker process died; restarted the process pool")
            fut = self.pool.submit(fn, *args)
        self.futures.add(fut)
        return fut

    def next_done(self):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(self.futures, return_when=FIRST_COMPLETED)
        fut = min(done, key=id)
        self.futures.discard(fut)
        error = fut.exception()
        return (fut, None, error) if error is not None else (fut, fut.result(), None)

    @property
    def pending(self) -> int:
        return len(self.futures)

    def close(self) -> None:
        for fut in self.futures:
            fut.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _same(data: Any) -> Any:
    """A task whose result is its argument: how a trace's bytes enter the cluster."""
    return data


class _Dask(_Backend):
    """A Dask cluster. Traces enter it as tasks holding their bytes (not scattered data), so
    the scheduler can recompute a trace a lost worker held; a task in flight on a lost worker
    is rescheduled by Dask, and one that keeps losing its worker comes back as an error that
    the run loop retries."""

    name = "dask"

    def __init__(self, scheduler: str | None, n_local: int | None, processes: bool,
                 dashboard: bool = False) -> None:
        from distributed import Client, LocalCluster, as_completed

        self.cluster = None
        if scheduler:
            self.client = _connect(Client, scheduler)
        else:
            import dask

            address = ":0" if dashboard and find_spec("bokeh") is not None else None
            # A cluster of our own: no statistical profiler sampling every worker thread
            # (a measurable cost on a small machine; nobody reads its profile).
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                self.cluster = LocalCluster(n_workers=n_local or 1, threads_per_worker=1,
                                            processes=processes, dashboard_address=address,
                                            silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        with contextlib.suppress(Exception):
            if "dashboard" in self.client.scheduler_info().get("services", {}):
                self.dashboard = self.client.dashboard_link
        self.workers = max(1, sum(self.client.nthreads().values()))
        self.done = as_completed()
        self.live: set[Any] = set()
        self.traces: list[Any] = []

    def submit(self, fn, *args):
        fut = self.client.submit(fn, *args, pure=False)
        self.live.add(fut)
        self.done.add(fut)
        return fut

    def next_done(self):
        fut = next(self.done)
        self.live.discard(fut)
        try:
            return fut, fut.result(), None
        except Exception as err:  # the task's function catches its own errors: a lost worker
            return fut, None, err

    @property
    def pending(self) -> int:
        return len(self.live)

    def trace_ref(self, path: Path) -> Any:
        # The workers may not share this file system: the trace file's bytes travel through
        # the cluster, to each worker once, as the result of a task that the scheduler can
        # run again when the worker holding it is lost (scattered data could not be).
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "large object in the task graph": on purpose
            future = self.client.submit(_same, path.read_bytes(), pure=False)
        self.traces.append(future)
        return future

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel([*self.live, *self.traces])
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def _connect(client_type: Any, scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler``; a malformed or unreachable address is one
    line naming it."""
    try:
        return client_type(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise VitsimError(f"cannot connect to the Dask scheduler: {_one_line(err)}",
                          source=f"--scheduler {scheduler}") from None
    except (AssertionError, RuntimeError):
        # distributed's client asserts when its IO-loop thread has not started within 10 s
        # (seen on a loaded 2-core host while connecting to an unreachable address)
        raise VitsimError("cannot connect to the Dask scheduler: the Dask client's event loop "
                          "did not start within 10 s", source=f"--scheduler {scheduler}") from None


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------------------
# The sweep directory
# --------------------------------------------------------------------------------------


def default_format() -> str:
    """Parquet when pyarrow is installed, otherwise CSV."""
    return "parquet" if find_spec("pyarrow") is not None else "csv"


def _write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        frame.to_parquet(path, engine="pyarrow", index=False)
    else:
        frame.to_csv(path, index=False)


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a results table or part written by a sweep (Parquet or CSV, exact floats)."""
    path = Path(path)
    if path.suffix == ".parquet":
        if find_spec("pyarrow") is None:
            raise VitsimError('reading Parquet needs pyarrow: pip install "vitsim[sweep]"',
                              source=str(path))
        try:
            # No reader threads: the process pool forks its workers from this process later.
            return pd.read_parquet(path, engine="pyarrow", use_threads=False)
        except FileNotFoundError:
            raise VitsimError("no such file", source=str(path)) from None
        except Exception as err:  # pyarrow's errors for a truncated or foreign file vary
            raise DamagedFileError(f"cannot read this Parquet table ({_one_line(err)})",
                                   source=str(path)) from None
    if path.suffix == ".csv":
        try:
            return _read_csv(path)
        except FileNotFoundError:
            raise VitsimError("no such file", source=str(path)) from None
        except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise DamagedFileError(f"cannot read this CSV table ({_one_line(err)})",
                                   source=str(path)) from None
    raise VitsimError("expected a .parquet or .csv table", source=str(path))


class DamagedFileError(VitsimError):
    """A results file that exists but cannot be read (truncated, foreign, corrupted)."""


class SweepAborted(VitsimError):
    """A task lost its worker more often than the retry budget allows; the finished points are
    saved and ``--resume`` continues."""


def _read_csv(path: Path) -> pd.DataFrame:
    # pandas 3 parses floats exactly by default (and deprecates the option); older
    # versions need the round-trip parser for the values to come back bit for bit.
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], **exact)
    for col in AREA_COLUMNS:
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    return frame


class SweepDir:
    """A sweep directory: its manifest, its part files, and its final table."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def parts_dir(self) -> Path:
        return self.path / PARTS

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise VitsimError(f"not a sweep directory (no {MANIFEST})",
                              source=str(self.path)) from None
        except (OSError, json.JSONDecodeError) as err:
            raise VitsimError(f"cannot read the manifest: {err}",
                              source=str(self.manifest_path)) from None

    def write_manifest(self, doc: dict[str, Any]) -> None:
        with atomic_output(self.manifest_path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")

    def results_path(self, fmt: str | None = None) -> Path:
        if fmt is None:
            fmt = self.manifest().get("format", default_format())
        return self.path / f"{RESULTS}.{fmt}"

    def part_paths(self, fmt: str) -> list[Path]:
        if not self.parts_dir.is_dir():
            return []
        return sorted(p for p in self.parts_dir.glob(f"part-*.{fmt}")
                      if not p.name.startswith("."))

    def read_parts(self, fmt: str, *, repair: bool = False) -> pd.DataFrame:
        """Every result recorded so far, one row per point key (the first recorded wins).

        A part that cannot be read raises a :class:`DamagedFileError` naming it; with
        ``repair`` it is moved aside instead (renamed ``*.damaged``, kept for inspection, and
        reported in one line), so that its points count as not done and are recomputed."""
        frames = []
        for path in self.part_paths(fmt):
            try:
                frame = read_frame(path)
                if "point_hash" not in frame.columns:
                    raise DamagedFileError("not a sweep part (no point_hash column)",
                                           source=str(path))
            except DamagedFileError as err:
                if not repair:
                    raise
                aside = _move_aside(path)
                log.warning("%s; moved aside to %s, its points will be recomputed",
                            err.one_line(), aside.name)
                continue
            frames.append(frame)
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=[*RESULT_COLUMNS, *known_metrics()])
        frame = pd.concat(frames, ignore_index=True)
        return frame.drop_duplicates("point_hash", keep="first").reset_index(drop=True)

    def write_part(self, records: list[dict[str, Any]], fmt: str, run_id: str,
                   seq: int) -> Path:
        """One part file, written atomically (a kill leaves the whole part or none)."""
        metrics = [*known_metrics(), *dict.fromkeys(
            k for r in records for k in r if is_metric_column(k) and k not in known_metrics())]
        frame = pd.DataFrame.from_records(records).reindex(columns=[*RESULT_COLUMNS, *metrics])
        for name in metrics:
            frame[name] = frame[name].astype(np.float64)
        for name in RESULT_COLUMNS:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        path = self.parts_dir / f"part-{run_id}-{seq:05d}.{fmt}"
        with atomic_output(path) as tmp:
            _write_frame(frame, tmp, fmt)
        return path

    def read_results(self) -> pd.DataFrame:
        """The final table of a finished sweep."""
        doc = self.manifest()
        path = self.results_path(doc.get("format"))
        if not path.is_file():
            raise VitsimError(f"sweep is not finished ({doc.get('n_done', 0)} of "
                              f"{doc.get('n_points', '?')} points); run vitsim sweep again "
                              f"with --resume", source=str(self.path))
        return read_frame(path)


def _move_aside(path: Path) -> Path:
    """Rename a damaged file to ``<name>.damaged`` (``.damaged-2`` ... when taken)."""
    aside = path.with_name(path.name + ".damaged")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{n}")
    os.replace(path, aside)
    return aside


def _prepare(out: Path, expansion: Expansion, *, resume: bool, fmt: str | None) \
        -> tuple[SweepDir, dict[str, Any]]:
    """Create the sweep directory, or check that ``resume`` continues the same sweep."""
    sweep = SweepDir(out)
    if out.exists() and not out.is_dir():
        raise VitsimError("exists and is not a directory", source=str(out))
    existing = out.is_dir() and any(out.iterdir())
    if existing:
        if not sweep.manifest_path.is_file():
            raise VitsimError("directory exists, is not empty and is not a sweep directory; "
                              "choose another --out", source=str(out))
        if not resume:
            raise VitsimError("holds a sweep already; add --resume to continue it, or choose "
                              "another --out", source=str(out))
        doc = sweep.manifest()
        if doc.get("points_digest") != expansion.digest():
            raise VitsimError("the sweep here was started from a spec with other points "
                              f"({doc.get('n_points')} points, digest "
                              f"{doc.get('points_digest')}); resume it with the same spec, "
                              "or choose another --out", source=str(out))
        if fmt is not None and fmt != doc.get("format"):
            raise VitsimError(f"the sweep here stores {doc.get('format')} parts",
                              source=str(out))
        if doc.get("format") == "parquet" and find_spec("pyarrow") is None:
            raise VitsimError("the sweep here stores Parquet parts, and pyarrow is missing",
                              source=str(out))
        return sweep, doc
    if fmt is not None and fmt not in FORMATS:
        raise VitsimError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "parquet" and find_spec("pyarrow") is None:
        raise VitsimError("Parquet output needs pyarrow (pip install vitsim[sweep])")
    try:
        out.mkdir(parents=True, exist_ok=True)
        sweep.parts_dir.mkdir(exist_ok=True)
    except OSError as err:
        raise VitsimError(f"cannot create the sweep directory: {err.strerror}",
                          source=str(out)) from None
    spec = expansion.spec
    with atomic_output(out / SPEC_COPY) as tmp:
        tmp.write_text(spec.text or json.dumps(spec.document(), indent=1), encoding="utf-8")
    from vitsim.analysis.runs import versions

    doc = {
        "name": spec.name,
        "spec": spec.document(),
        "points_digest": expansion.digest(),
        "n_candidates": expansion.n_candidates,
        "n_dropped": expansion.n_dropped,
        "n_points": len(expansion.points),
        "n_done": 0,
        "axes": [a.name for a in spec.axes],
        "metrics": list(spec.metrics),
        "baselines": list(spec.baselines),
        "hardware": spec.base_hardware.name,
        "format": fmt or default_format(),
        "status": "running",
        "created": _now(),
        "runs": [],
        "versions": versions(),
    }
    sweep.write_manifest(doc)
    return sweep, doc


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------
# Assembling the table
# --------------------------------------------------------------------------------------


def points_frame(expansion: Expansion) -> pd.DataFrame:
    """One row per point: its axis values, workload, area proxy, and key."""
    axis_names = [a.name for a in expansion.spec.axes]
    rows = []
    for p in expansion.points:
        row: dict[str, Any] = {"point": p.index}
        row.update(zip(axis_names, p.values, strict=True))
        if p.workload is not None:
            for k, v in p.workload.document().items():
                if k != "file_sha256":
                    row.setdefault(f"workload.{k}", v)
        row["total_macs"] = p.hardware.total_macs if p.hardware is not None else None
        row["sram_bytes"] = sram_bytes(p.hardware) if p.hardware is not None else None
        row["resolve_error"] = p.error
        row["point_hash"] = p.key
        rows.append(row)
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["point", *axis_names, *AREA_COLUMNS, "resolve_error",
                                      "point_hash"])
    for col in AREA_COLUMNS:
        frame[col] = frame[col].astype("Int64")
    return frame


def assemble(expansion: Expansion, results: pd.DataFrame) -> pd.DataFrame:
    """The final table: one row per point, sorted by point index, with the spec's metrics."""
    points = points_frame(expansion)
    metrics = [*expansion.spec.metrics, *baseline_metric_names(expansion.spec.baselines)]
    keep = [c for c in ("point_hash", "status", "error", "trace_hash", *metrics)
            if c in results.columns]
    results = results[keep].copy()
    for name in ("status", "error", "trace_hash"):  # text, even when a CSV part has none
        if name in results:
            results[name] = results[name].astype(object).where(results[name].notna(), None)
    merged = points.merge(results, on="point_hash", how="left", validate="many_to_one")
    for name in ("status", "error"):
        merged[name] = merged[name].astype(object)
    failed_early = merged["resolve_error"].notna()
    merged.loc[failed_early, "status"] = STATUS_FAILED
    merged.loc[failed_early, "error"] = merged.loc[failed_early, "resolve_error"]
    merged = merged.drop(columns="resolve_error")
    for name in metrics:
        merged[name] = merged[name].astype(np.float64)
    for name in ("status", "error", "trace_hash"):
        merged[name] = merged[name].astype(object).where(merged[name].notna(), None)
    front = [c for c in merged.columns if c not in (*metrics, "status", "error", "trace_hash",
                                                    "point_hash")]
    merged = merged[[*front, "status", "error", *metrics, "trace_hash", "point_hash"]]
    merged = _storable(merged)
    return merged.sort_values("point", kind="stable").reset_index(drop=True)


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of mixed Python types (an axis of ``[null, 16, "auto"]``) as text, which
    every table format stores."""
    for col in frame.columns:
        if frame[col].dtype == object:
            kinds = {type(v) for v in frame[col] if v is not None and v == v}
            if len(kinds) > 1:
                frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    return frame


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    """What a call of :func:`run_sweep` did."""

    path: Path
    n_points: int
    n_dropped: int
    n_evaluated: int  # distinct points simulated by this call
    n_skipped: int  # distinct points found already done
    n_failed: int  # failed rows of the final table (None when unfinished)
    complete: bool
    elapsed_s: float
    runner: str
    workers: int
    results: Path | None

    @property
    def points_per_s(self) -> float:
        return self.n_evaluated / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _units(expansion: Expansion, done: set[str]) -> list[Unit]:
    """Distinct unfinished points, sorted by workload so a worker's trace cache hits, and
    within a workload those that differ only in the DRAM bandwidth (or not at all in what
    the attention reads) next to each other, in order of first appearance, so that they
    share a chunk and the prepared trace's memoised attention
    (:func:`vitsim.simulator.prepared.attention_key`) hits."""
    from vitsim.simulator.prepared import attention_key

    seen: dict[str, Point] = {}
    for p in expansion.points:
        if p.ok and p.key not in done and p.key not in seen:
            seen[p.key] = p
    ordered = sorted(seen.values(), key=lambda p: (p.workload.key(), p.index))  # type: ignore[union-attr]
    together: dict[tuple[str, tuple], list[Point]] = {}
    for p in ordered:
        together.setdefault((p.workload.key(), attention_key(p.hardware)), []).append(p)  # type: ignore[union-attr, arg-type]
    return [(p.key, p.hardware, p.workload)  # type: ignore[misc]
            for same in together.values() for p in same]


def plan_chunks(units: Sequence[Unit], *, workers: int, chunk_size: int | None = None) \
        -> list[list[Unit]]:
    """Cut ``units`` into chunks of at most ``chunk_size`` (default: about
    :data:`CHUNKS_PER_WORKER` chunks per worker, at most :data:`MAX_CHUNK`), never spanning two
    workloads."""
    if chunk_size is None:
        chunk_size = max(1, min(MAX_CHUNK, math.ceil(len(units) / (workers * CHUNKS_PER_WORKER))))
    chunks: list[list[Unit]] = []
    current: list[Unit] = []
    for unit in units:
        if current and (len(current) >= chunk_size or unit[2] != current[-1][2]):
            chunks.append(current)
            current = []
        current.append(unit)
    if current:
        chunks.append(current)
    return chunks


DEFAULT_RETRIES = 3  # times a call lost with its worker (or its pool) is submitted again


def _backend(runner: str, *, workers: int | None, scheduler: str | None,
             dask_local: int | None, dask_processes: bool, dashboard: bool = False) -> _Backend:
    if runner == "serial":
        return _Serial()
    if runner == "processes":
        return _Processes(workers or default_workers())
    if runner == "dask":
        if scheduler is None and not dask_local:
            raise VitsimError("the Dask runner needs a scheduler address or a local cluster "
                              "size", source="--scheduler")
        if find_spec("distributed") is None:
            raise VitsimError('the Dask runner needs dask.distributed: pip install '
                              '"vitsim[sweep]"', source="--scheduler" if scheduler
                              else "--dask-local")
        return _Dask(scheduler, dask_local, dask_processes, dashboard)
    raise VitsimError(f"unknown runner {runner!r}; use one of {', '.join(RUNNERS)}")


def run_sweep(
    spec: SweepSpec | Expansion,
    out: str | Path,
    *,
    runner: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    dask_processes: bool = True,
    resume: bool = False,
    limit: int | None = None,
    chunk_size: int | None = None,
    fmt: str | None = None,
    progress: bool | TextIO = True,
    on_part: Callable[[int], None] | None = None,
    retries: int = DEFAULT_RETRIES,
    announce: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) a sweep into directory ``out``; see the module docstring.

    ``runner`` is ``serial``, ``processes`` (``workers`` processes, default all cores) or
    ``dask`` (an existing cluster at ``scheduler``, or a local one of ``dask_local`` workers,
    processes or threads as ``dask_processes`` says). ``limit`` stops after that many new
    points (the rest are left for ``resume``). ``progress`` draws a bar on stderr (or on the
    given stream). ``on_part(points_done_this_call)`` is called after every part is written.
    A call lost with its worker is submitted again, up to ``retries`` times; past that a
    :class:`SweepAborted` says so (the finished points are saved). ``announce`` is given the
    lines a user should see (the Dask dashboard address); with it, a local cluster starts a
    dashboard.
    """
    expansion = spec if isinstance(spec, Expansion) else expand_sweep(spec)
    out = Path(out)
    made_dir = not out.exists()
    fresh = made_dir or (out.is_dir() and not any(out.iterdir()))
    sweep, doc = _prepare(out, expansion, resume=resume, fmt=fmt)
    fmt = doc["format"]
    traces_dir = _tidy(sweep)
    done_keys = set(sweep.read_parts(fmt, repair=True)["point_hash"])
    all_units = _units(expansion, set())
    units = [u for u in all_units if u[0] not in done_keys]
    n_skipped = len(all_units) - len(units)
    if limit is not None:
        units = units[:max(0, limit)]
    started = time.perf_counter()
    try:
        backend = _backend(runner, workers=workers, scheduler=scheduler,
                           dask_local=dask_local, dask_processes=dask_processes,
                           dashboard=announce is not None) if units else _Serial()
    except BaseException:
        if fresh:  # leave no half-made sweep directory behind (a retry needs no --resume)
            _remove_fresh(sweep, traces_dir, made_dir=made_dir)
        raise
    if backend.dashboard and announce is not None:
        announce(f"Dask dashboard: {backend.dashboard}")
    work = _Work(backend, sweep, expansion, units, traces_dir, fmt=fmt, chunk_size=chunk_size,
                 retries=retries, on_part=on_part)
    try:
        stream = progress if not isinstance(progress, bool) else None
        work.run(ProgressBar(len(units), label=expansion.spec.name, stream=stream,
                             enabled=bool(progress)))
    finally:
        backend.close()
        elapsed = time.perf_counter() - started
        _record_run(sweep, runner=backend.name, workers=backend.workers,
                    evaluated=work.evaluated, skipped=n_skipped, elapsed=elapsed)
    n_failed, results_path = _finish(sweep, expansion, all_units, traces_dir, fmt)
    return SweepOutcome(out, len(expansion.points), expansion.n_dropped, work.evaluated,
                        n_skipped, n_failed, results_path is not None, elapsed, backend.name,
                        backend.workers, results_path)


def _tidy(sweep: SweepDir) -> Path:
    """Make the traces folder; remove the temporaries of a killed writer; move aside a trace
    file that cannot be read (it is built again). Returns the traces folder."""
    traces_dir = sweep.path / TRACES
    traces_dir.mkdir(exist_ok=True)
    for folder in (sweep.parts_dir, traces_dir):
        for stale in folder.glob(".*"):
            with contextlib.suppress(OSError):
                stale.unlink()
    for path in traces_dir.glob("*.npz"):
        if not zipfile.is_zipfile(path) or _zip_damaged(path):
            aside = _move_aside(path)
            log.warning("%s: cannot read this trace; moved aside to %s, it will be built again",
                        path, aside.name)
    return traces_dir


def _zip_damaged(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is not None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return True


def _remove_fresh(sweep: SweepDir, traces_dir: Path, *, made_dir: bool) -> None:
    """Undo what :func:`_prepare` made in a new sweep directory."""
    for path in (sweep.path / SPEC_COPY, sweep.manifest_path):
        path.unlink(missing_ok=True)
    for folder in (sweep.parts_dir, traces_dir):
        with contextlib.suppress(OSError):
            folder.rmdir()
    if made_dir:
        with contextlib.suppress(OSError):
            sweep.path.rmdir()


class _Work:
    """The calls of one run: each missing workload's trace built once, in parallel, and kept
    in the sweep directory (where a resumed sweep finds it); a workload's chunks submitted as
    soon as its trace is there, so simulating overlaps the building of the other traces; every
    finished chunk written as a part. A call lost with its worker is submitted again."""

    def __init__(self, backend: _Backend, sweep: SweepDir, expansion: Expansion,
                 units: Sequence[Unit], traces_dir: Path, *, fmt: str,
                 chunk_size: int | None, retries: int,
                 on_part: Callable[[int], None] | None) -> None:
        self.backend, self.sweep, self.expansion = backend, sweep, expansion
        self.traces_dir, self.fmt, self.chunk_size = traces_dir, fmt, chunk_size
        self.retries, self.on_part = retries, on_part
        self.by_workload: dict[str, list[Unit]] = {}
        for unit in units:
            self.by_workload.setdefault(unit[2].key(), []).append(unit)
        self.workloads = {key: group[0][2] for key, group in self.by_workload.items()}
        # handle -> (kind "trace" | "chunk", workload key, fn, args, tries so far)
        self.jobs: dict[Any, tuple[str, str, Callable[..., Any], tuple, int]] = {}
        self.run_id = uuid.uuid4().hex[:8]
        self.seq = 0
        self.evaluated = 0

    def _submit(self, kind: str, key: str, fn: Callable[..., Any], args: tuple,
                tries: int = 0) -> None:
        self.jobs[self.backend.submit(fn, *args)] = (kind, key, fn, args, tries)

    def _submit_chunks(self, key: str) -> None:
        ref = self.backend.trace_ref(_trace_path(self.traces_dir, self.workloads[key]))
        baselines = tuple(self.expansion.spec.baselines)
        for chunk in plan_chunks(self.by_workload[key], workers=self.backend.workers,
                                 chunk_size=self.chunk_size):
            self._submit("chunk", key, evaluate_chunk,
                         (key, ref, [(k, hw) for k, hw, _ in chunk], baselines))

    def run(self, bar: ProgressBar) -> None:
        missing = [k for k, w in self.workloads.items()
                   if not _trace_path(self.traces_dir, w).is_file()]
        n_built = 0
        if missing:
            bar.set_note(f"traces 0/{len(missing)}")
        for key in missing:
            self._submit("trace", key, build_trace_bytes, (self.workloads[key],))
        log.info("sweep %s: %d points, %d to simulate (%d traces to build) on %s "
                 "(%d workers)", self.expansion.spec.name, len(self.expansion.points),
                 sum(len(g) for g in self.by_workload.values()), len(missing),
                 self.backend.name, self.backend.workers)
        for key in self.workloads:
            if key not in missing:
                self._submit_chunks(key)
        while self.backend.pending:
            handle, result, error = self.backend.next_done()
            kind, key, fn, args, tries = self.jobs.pop(handle)
            if error is not None:
                self._retry(kind, key, fn, args, tries, error)
                continue
            if kind == "trace":
                n_built += 1
                bar.set_note(f"traces {n_built}/{len(missing)}" if n_built < len(missing)
                             else "")
                result = self._trace_done(key, result)
                if result is None:
                    continue
            self.sweep.write_part(result, self.fmt, self.run_id, self.seq)
            self.seq += 1
            self.evaluated += len(result)
            bar.update(len(result))
            if self.on_part is not None:
                self.on_part(self.evaluated)
        bar.close()

    def _trace_done(self, key: str, result: tuple[bytes | None, str | None]) \
            -> list[dict[str, Any]] | None:
        """Keep a built trace and submit its chunks (None); or, when it could not be built,
        the failed records of every point of its workload."""
        data, error = result
        if data is not None:
            with atomic_output(_trace_path(self.traces_dir, self.workloads[key])) as tmp:
                tmp.write_bytes(data)
            self._submit_chunks(key)
            return None
        return [{"point_hash": u[0], "status": STATUS_FAILED, "error": str(error)}
                for u in self.by_workload[key]]

    def _retry(self, kind: str, key: str, fn: Callable[..., Any], args: tuple, tries: int,
               error: BaseException) -> None:
        if tries >= self.retries:
            raise SweepAborted(f"a {kind} task was lost {tries + 1} times ({_one_line(error)}); "
                               f"{self.evaluated} points of this run are saved; continue "
                               "with --resume", source=str(self.sweep.path))
        log.warning("a %s task was lost (%s); retrying (%d of %d)", kind, _one_line(error),
                    tries + 1, self.retries)
        self._submit(kind, key, fn, args, tries + 1)


def _finish(sweep: SweepDir, expansion: Expansion, all_units: Sequence[Unit],
            traces_dir: Path, fmt: str) -> tuple[int, Path | None]:
    """Write the final table when every point is done, and the manifest's counts:
    ``(failed rows or -1, the table's path or None)``."""
    results_frame = sweep.read_parts(fmt, repair=True)
    n_done = len(set(results_frame["point_hash"]) & {u[0] for u in all_units})
    complete = n_done == len(all_units)
    results_path = None
    n_failed = -1
    if complete:
        table = assemble(expansion, results_frame)
        n_failed = int((table["status"] == STATUS_FAILED).sum())
        results_path = sweep.results_path(fmt)
        with atomic_output(results_path) as tmp:
            _write_frame(table, tmp, fmt)
    doc = sweep.manifest()
    doc.update(n_done=n_done, status="complete" if complete else "incomplete",
               n_failed=n_failed if complete else None,
               results=results_path.name if results_path else None,
               traces={_trace_path(traces_dir, w).name: w.document()
                       for w in {u[2].key(): u[2] for u in all_units}.values()
                       if _trace_path(traces_dir, w).is_file()})
    sweep.write_manifest(doc)
    return n_failed, results_path


def _trace_path(folder: Path, workload: Workload) -> Path:
    digest = hashlib.sha256(workload.key().encode()).hexdigest()[:HASH_CHARS]
    return folder / f"{digest}.npz"


def _record_run(sweep: SweepDir, *, runner: str, workers: int, evaluated: int, skipped: int,
                elapsed: float) -> None:
    """Append this call to the manifest's runs (also when interrupted)."""
    doc = sweep.manifest()
    doc["status"] = "incomplete"
    doc.setdefault("runs", []).append({
        "finished": _now(), "runner": runner, "workers": workers, "evaluated": evaluated,
        "skipped": skipped, "elapsed_s": round(elapsed, 3),
        "points_per_s": round(evaluated / elapsed, 2) if elapsed > 0 else None})
    sweep.write_manifest(doc)


def load_results(path: str | Path) -> pd.DataFrame:
    """A sweep's final table from its directory, or a table file (.parquet or .csv)."""
    path = Path(path)
    if path.is_dir():
        return SweepDir(path).read_results()
    if not path.is_file():
        raise VitsimError("no such file or directory", source=str(path))
    return read_frame(path)

