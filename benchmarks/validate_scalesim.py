"""Validate vitsim's systolic GEMM timing against SCALE-Sim v3.

Runs SCALE-Sim v3 (in its own virtual environment, outside this repository) on the GEMMs of a
DeiT-Tiny and a DeiT-Small encoder block on a 64 x 8 and a 32 x 32 array, output and weight
stationary, with SRAMs and bandwidth large enough that the array never stalls; runs
:func:`vitsim.simulator.dense_engine.systolic_gemm` on the same shapes; prints the comparison
and writes it as markdown (``benchmarks/SCALESIM.md`` by default).

    python3 -m venv /tmp/scalesim-venv
    /tmp/scalesim-venv/bin/pip install scalesim==3.0.0 'numpy<2.4'
    .venv/bin/python benchmarks/validate_scalesim.py --scalesim-python /tmp/scalesim-venv/bin/python

SCALE-Sim simulates every cycle in Python (about 0.3 ms per cycle here), so the whole set
(40 runs, 4 million simulated cycles) takes about half an hour on two cores; ``--jobs`` runs
several at once, ``--gemms`` picks a subset, and ``--reuse`` keeps the results of runs already
done in ``--workdir``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from vitsim.simulator.dense_engine import GemmTiming, systolic_folds, systolic_gemm

# (name, M, K, N): A is [M, K], B is [K, N]. DeiT at 224 px has 197 tokens; head_dim is 64
# in both models, so the per-head attention GEMMs are the same for Tiny and Small.
GEMMS: tuple[tuple[str, int, int, int], ...] = (
    ("deit_tiny.qkv", 197, 192, 576),
    ("deit_tiny.proj", 197, 192, 192),
    ("deit_tiny.fc1", 197, 192, 768),
    ("deit_tiny.fc2", 197, 768, 192),
    ("deit_small.qkv", 197, 384, 1152),
    ("deit_small.proj", 197, 384, 384),
    ("deit_small.fc1", 197, 384, 1536),
    ("deit_small.fc2", 197, 1536, 384),
    ("deit.qk (per head)", 197, 64, 197),
    ("deit.sv (per head)", 197, 197, 64),
)
ARRAYS: tuple[tuple[int, int], ...] = ((64, 8), (32, 32))  # (rows, cols)
DATAFLOWS: tuple[str, ...] = ("os", "ws")

# Every operand of the GEMMs above fits whole (the largest, 1536 x 384 B = 576 KiB), so the
# buffers are filled once before the first fold and never stall the array.
SRAM_KIB = 65536
# Words per cycle from the backing store into each SRAM: far above what the array consumes
# (at most rows + cols words per cycle), so no run is bandwidth-bound.
BANDWIDTH_WORDS_PER_CYCLE = 1024

CONFIG_TEMPLATE = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {sram_kib}
FilterSramSzkB: {sram_kib}
OfmapSramSzkB: {sram_kib}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bandwidth}
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bandwidth}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bandwidth}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40
"""

# SCALE-Sim's GEMM topology (``-i gemm``, scalesim/topology_utils.py load_arrays_gemm): a
# header line, then "name, M, N, K," per layer; the trailing comma is required (the row is
# split on commas and the last field dropped). M = output rows, N = output columns, K = the
# reduction dimension.
TOPOLOGY_TEMPLATE = "Layer, M, N, K,\n{name}, {m}, {n}, {k},\n"
# A layout file must exist even when no custom layout is used (it is only read then).
LAYOUT_TEXT = "Layer name,\n"

# Runs inside SCALE-Sim's venv. Drives SCALE-Sim through its Python API, the path
# `python -m scalesim.scale -c CFG -t TOPO -l LAYOUT -p OUT -i gemm` takes, except that
# traces are not written: scale.py hard-codes save_disk_space=False whatever its -s flag
# says, and the traces of these runs would be gigabytes of CSV.
DRIVER = r"""
import importlib.metadata, json, sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out = sys.argv[1:5]
t0 = time.perf_counter()
sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
               layout=layout, input_type_gemm=True)
sim.run_scale(top_path=out)
comp = sim.runner.single_layer_sim_object_list[0].compute_system
ifmap = comp.ifmap_demand_matrix
print(json.dumps({
    "version": importlib.metadata.version("scalesim"),
    "python": sys.version.split()[0],
    "wall_s": time.perf_counter() - t0,
    "demand_rows": int(ifmap.shape[0]),
    # cycles in which array row 0 receives an A operand: the T-long stream of every fold
    "stream_cycles": int((ifmap[:, 0] != -1).sum()),
}))
"""


@dataclass(frozen=True)
class Run:
    """One SCALE-Sim run: a GEMM on an array with a dataflow."""

    name: str
    m: int
    k: int
    n: int
    rows: int
    cols: int
    dataflow: str

    @property
    def key(self) -> str:
        safe = self.name.split(" ")[0].replace(".", "_")
        return f"{safe}_{self.m}x{self.k}x{self.n}_{self.rows}x{self.cols}_{self.dataflow}"

    @property
    def array(self) -> str:
        return f"{self.rows}x{self.cols}"


@dataclass(frozen=True)
class ScaleSimResult:
    """What one SCALE-Sim run reported (COMPUTE_REPORT.csv, DETAILED_ACCESS_REPORT.csv)."""

    total_cycles_incl_prefetch: int
    total_cycles: int
    stall_cycles: int
    overall_util_pct: float
    mapping_efficiency_pct: float
    compute_util_pct: float
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    demand_rows: int
    stream_cycles: int
    version: str
    python: str
    wall_s: float


def _read_report(path: Path) -> dict[str, str]:
    with path.open(newline="") as f:
        rows = [[c.strip() for c in row] for row in csv.reader(f)]
    header, values = rows[0], rows[1]
    return {h: v for h, v in zip(header, values, strict=False) if h}


def run_scalesim(
    run: Run, python: str, workdir: Path, *, reuse: bool, timeout_s: float | None
) -> ScaleSimResult:
    """Run SCALE-Sim on ``run`` (or reuse a stored result) and parse its reports."""
    rundir = workdir / run.key
    result_path = rundir / "result.json"
    if reuse and result_path.is_file():
        return ScaleSimResult(**json.loads(result_path.read_text()))
    rundir.mkdir(parents=True, exist_ok=True)
    cfg = rundir / "scale.cfg"
    cfg.write_text(
        CONFIG_TEMPLATE.format(
            run_name=run.key,
            rows=run.rows,
            cols=run.cols,
            dataflow=run.dataflow,
            sram_kib=SRAM_KIB,
            bandwidth=BANDWIDTH_WORDS_PER_CYCLE,
        )
    )
    topo = rundir / "topology.csv"
    topo.write_text(TOPOLOGY_TEMPLATE.format(name=run.key, m=run.m, n=run.n, k=run.k))
    layout = rundir / "layout.csv"
    layout.write_text(LAYOUT_TEXT)
    out = rundir / "out"
    proc = subprocess.run(
        [python, "-c", DRIVER, str(cfg), str(topo), str(layout), str(out)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    (rundir / "stdout.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(
            f"SCALE-Sim failed on {run.key} (see {rundir / 'stdout.txt'}):\n{proc.stderr[-2000:]}"
        )
    extra = json.loads(proc.stdout.strip().splitlines()[-1])
    compute = _read_report(out / run.key / "COMPUTE_REPORT.csv")
    detail = _read_report(out / run.key / "DETAILED_ACCESS_REPORT.csv")
    result = ScaleSimResult(
        total_cycles_incl_prefetch=int(float(compute["Total Cycles (incl. prefetch)"])),
        total_cycles=int(float(compute["Total Cycles"])),
        stall_cycles=int(float(compute["Stall Cycles"])),
        overall_util_pct=float(compute["Overall Util %"]),
        mapping_efficiency_pct=float(compute["Mapping Efficiency %"]),
        compute_util_pct=float(compute["Compute Util %"]),
        sram_ifmap_reads=int(float(detail["SRAM IFMAP Reads"])),
        sram_filter_reads=int(float(detail["SRAM Filter Reads"])),
        sram_ofmap_writes=int(float(detail["SRAM OFMAP Writes"])),
        demand_rows=extra["demand_rows"],
        stream_cycles=extra["stream_cycles"],
        version=extra["version"],
        python=extra["python"],
        wall_s=extra["wall_s"],
    )
    result_path.write_text(json.dumps(asdict(result), indent=1))
    return result


def _rel(a: float, b: float) -> str:
    return f"{(a - b) / b * 100:+.3f}%"


def table_rows(pairs: list[tuple[Run, ScaleSimResult, GemmTiming]]) -> list[list[str]]:
    rows = []
    for run, ss, vs in pairs:
        rows.append(
            [
                run.name,
                f"{run.m}x{run.k}x{run.n}",
                run.array,
                run.dataflow,
                str(ss.total_cycles),
                str(ss.stall_cycles),
                str(ss.total_cycles_incl_prefetch),
                str(vs.total_cycles),
                str(vs.total_cycles - ss.total_cycles),
                _rel(vs.total_cycles, ss.total_cycles),
                str(ss.stream_cycles),
                str(vs.compute_cycles),
                _rel(vs.compute_cycles, ss.stream_cycles),
                f"{ss.overall_util_pct:.3f}",
                f"{vs.mac_utilization * 100:.3f}",
            ]
        )
    return rows


TABLE_HEADER = [
    "GEMM",
    "MxKxN",
    "array",
    "df",
    "SCALE-Sim total",
    "stalls",
    "incl. prefetch",
    "vitsim total",
    "diff",
    "rel err",
    "SCALE-Sim stream",
    "vitsim compute",
    "rel err",
    "SCALE-Sim util %",
    "vitsim util %",
]

SRAM_HEADER = [
    "GEMM",
    "array",
    "df",
    "IFMAP reads",
    "vitsim A",
    "Filter reads",
    "vitsim B",
    "OFMAP writes",
    "vitsim C",
    "OFMAP - C",
    "folds x (R+C)",
]


def sram_rows(pairs: list[tuple[Run, ScaleSimResult, GemmTiming]]) -> list[list[str]]:
    rows = []
    for run, ss, vs in pairs:
        row_folds, col_folds, _ = systolic_folds(
            run.m, run.k, run.n, rows=run.rows, cols=run.cols, dataflow=run.dataflow
        )
        n_folds = row_folds * col_folds
        rows.append(
            [
                run.name,
                run.array,
                run.dataflow,
                str(ss.sram_ifmap_reads),
                str(vs.sram_reads_a_bytes),
                str(ss.sram_filter_reads),
                str(vs.sram_reads_b_bytes),
                str(ss.sram_ofmap_writes),
                str(vs.sram_writes_c_bytes),
                str(ss.sram_ofmap_writes - vs.sram_writes_c_bytes),
                str(n_folds * (run.rows + run.cols)) if run.dataflow == "os" else "-",
            ]
        )
    return rows


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scalesim-python", required=True, help="python of a venv with scalesim==3.0.0 installed"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vitsim-scalesim",
        help="where SCALE-Sim's inputs, reports and results go",
    )
    parser.add_argument("--jobs", type=int, default=2, help="SCALE-Sim runs at once")
    parser.add_argument(
        "--gemms",
        nargs="*",
        default=None,
        help="names (prefixes) of the GEMMs to run; all when absent",
    )
    parser.add_argument("--reuse", action="store_true", help="reuse results already in --workdir")
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help="give up on a SCALE-Sim run after this many seconds",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=Path(__file__).resolve().parent / "SCALESIM.md",
        help="where to write the markdown report ('-' for none)",
    )
    args = parser.parse_args(argv)

    gemms = [g for g in GEMMS if args.gemms is None or any(g[0].startswith(p) for p in args.gemms)]
    runs = [
        Run(name, m, k, n, r, c, df)
        for name, m, k, n in gemms
        for r, c in ARRAYS
        for df in DATAFLOWS
    ]
    # Longest first, so the pool ends together.
    runs.sort(
        key=lambda r: (
            -systolic_gemm(
                r.m, r.k, r.n, rows=r.rows, cols=r.cols, dataflow=r.dataflow
            ).total_cycles
        )
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def one(run: Run) -> tuple[Run, ScaleSimResult | None, str]:
        try:
            res = run_scalesim(
                run, args.scalesim_python, args.workdir, reuse=args.reuse, timeout_s=args.timeout_s
            )
            print(f"done {run.key} ({res.wall_s:.0f} s)", file=sys.stderr, flush=True)
            return run, res, ""
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"FAILED {run.key}: {exc}", file=sys.stderr, flush=True)
            return run, None, type(exc).__name__

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(one, runs))
    order = {
        (name, r, c, df): i
        for i, (name, r, c, df) in enumerate(
            (g[0], r, c, df) for g in GEMMS for r, c in ARRAYS for df in DATAFLOWS
        )
    }
    outcomes.sort(key=lambda o: order[(o[0].name, o[0].rows, o[0].cols, o[0].dataflow)])
    pairs = [
        (
            run,
            ss,
            systolic_gemm(run.m, run.k, run.n, rows=run.rows, cols=run.cols, dataflow=run.dataflow),
        )
        for run, ss, _ in outcomes
        if ss is not None
    ]
    failed = [(run, why) for run, ss, why in outcomes if ss is None]
    if not pairs:
        print("no SCALE-Sim run succeeded", file=sys.stderr)
        return 1

    main_rows = table_rows(pairs)
    print(_text_table(TABLE_HEADER, main_rows))
    print()
    print(_text_table(SRAM_HEADER, sram_rows(pairs)))
    for run, why in failed:
        print(f"not run: {run.key} ({why})")
    if str(args.markdown) != "-":
        args.markdown.write_text(_markdown(pairs, failed, args, time.perf_counter() - started))
        print(f"wrote {args.markdown}")
    return 0


def _findings(pairs: list[tuple[Run, ScaleSimResult, GemmTiming]]) -> list[str]:
    """Checks over all runs, stated as measured (exceptions listed by run)."""
    out = []
    stalled = [r.key for r, ss, _ in pairs if ss.stall_cycles]
    out.append(
        "No run stalled (Stall Cycles = 0 everywhere): the engine is compared alone."
        if not stalled
        else f"Runs with stalls (compare with care): {', '.join(stalled)}."
    )
    off = [r.key for r, ss, vs in pairs if vs.total_cycles - ss.total_cycles != 1]
    out.append(
        "vitsim total = SCALE-Sim Total Cycles + 1 on every run (explanation 1)."
        if not off
        else f"vitsim total != SCALE-Sim Total Cycles + 1 on: {', '.join(off)}."
    )
    rows = [r.key for r, ss, vs in pairs if ss.demand_rows != vs.total_cycles]
    out.append(
        "SCALE-Sim's demand matrices have exactly vitsim's total_cycles rows (one row per "
        "cycle) on every run."
        if not rows
        else f"Demand-matrix rows != vitsim total on: {', '.join(rows)}."
    )
    comp = [r.key for r, ss, vs in pairs if ss.stream_cycles != vs.compute_cycles]
    out.append(
        "vitsim compute_cycles = SCALE-Sim's streaming cycles exactly on every run."
        if not comp
        else f"Compute cycles differ on: {', '.join(comp)}."
    )
    worst_total = max(
        abs(vs.total_cycles - ss.total_cycles) / ss.total_cycles for _, ss, vs in pairs
    )
    worst_comp = max(
        abs(vs.compute_cycles - ss.stream_cycles) / ss.stream_cycles for _, ss, vs in pairs
    )
    out.append(
        f"Largest relative error: total {worst_total * 100:.3f}%, "
        f"compute {worst_comp * 100:.3f}% (aims: 5% and 1%)."
    )
    sram = [
        r.key
        for r, ss, vs in pairs
        if (ss.sram_ifmap_reads, ss.sram_filter_reads)
        != (vs.sram_reads_a_bytes, vs.sram_reads_b_bytes)
    ]
    out.append(
        "SRAM IFMAP and Filter reads equal vitsim's A and B reads on every run."
        if not sram
        else f"SRAM A/B reads differ on: {', '.join(sram)}."
    )
    ofmap = []
    for r, ss, vs in pairs:
        row_folds, col_folds, _ = systolic_folds(
            r.m, r.k, r.n, rows=r.rows, cols=r.cols, dataflow=r.dataflow
        )
        extra = row_folds * col_folds * (r.rows + r.cols) if r.dataflow == "os" else 0
        if ss.sram_ofmap_writes - vs.sram_writes_c_bytes != extra:
            ofmap.append(r.key)
    out.append(
        "SRAM OFMAP writes equal vitsim's C writes for WS, and exceed them by exactly "
        "folds x (rows + cols) for OS (explanation 5)."
        if not ofmap
        else f"OFMAP writes differ otherwise than explained on: {', '.join(ofmap)}."
    )
    return out


EXPLANATIONS = """\
## Discrepancies and their explanations

1. **Total cycles: vitsim = SCALE-Sim + 1.** SCALE-Sim builds one demand-matrix row per array
   cycle and reports `Total Cycles = int(max(ofmap_serviced_cycles))`
   (`scalesim/memory/double_buffered_scratchpad_mem.py`, `service_memory_requests`): the
   index of the last busy cycle, counted from 0. The number of cycles is that + 1, which is
   what vitsim counts (the demand matrices have exactly vitsim's `total_cycles` rows, checked
   above). The relative error this leaves is 1 / total (0.03% at most here); vitsim is not
   changed to copy an index.
2. **The per-fold formula is the code's, not the paper's.** The ISPASS 2020 paper gives
   `2 S_R + S_C + T - 2` cycles per fold with the fold's mapped `S_R x S_C`. The v3.0.0 code
   (`scalesim/compute/systolic_compute_os.py` and `..._ws.py`, `create_*_demand_mat`) pads a
   partly used fold with null requests to the full array, so every fold lasts as if it used
   all `rows x cols` PEs, and the two dataflows differ:
   * OS: `T` operand rows + `cols - 1` drain rows, skewed over `rows`:
     `T + rows + cols - 2` per fold (no weight pre-load term);
   * WS: `rows` pre-load rows ("cycles for weights to load") + `T` + `cols - 1`, skewed over
     `rows`: `T + 2 rows + cols - 2` per fold (the paper's formula with the full array).
   vitsim (`systolic_gemm`) follows the code: `compute = folds x T`, `fill/drain = folds x
   (rows + cols - 2)` (OS) or `folds x (2 rows + cols - 2)` (WS).
3. **Compute (streaming) cycles are not in SCALE-Sim's reports**, so they are measured from
   its own schedule: the rows of its IFMAP demand matrix in which array row 0 receives an A
   operand (column 0 not the null request -1), which is the `T`-long stream of every fold.
   SCALE-Sim's `Compute Util %` cannot serve instead: it averages `mac_used x T / (rows x
   cols x cycles_this_fold)` over folds, and for WS it takes `cycles_this_fold` from the
   *unskewed* filter demand matrix plus its width (`shape[0] + shape[1] - 1 = 2 rows + 2 cols
   + T - 3`, in `systolic_compute_ws.create_filter_demand_mat`), `cols - 1` more than a fold
   lasts. `Overall Util %` (MACs / (Total Cycles x rows x cols)) is comparable and is in the
   table; it differs from vitsim's `mac_utilization` only through explanation 1.
4. **Total Cycles (incl. prefetch)** also counts the DRAM fill of the SRAMs before the first
   fold and the OFMAP write-back after the last (`calc_report_data`: OFMAP DRAM stop cycle -
   first DRAM start cycle). The dense engine model leaves memory out on purpose: loads,
   stores and their overlap are the tile timeline's (`vitsim.simulator.linear`).
5. **SRAM counts.** IFMAP and Filter reads match vitsim's A and B reads exactly (OS: A
   `M K ceil(N/cols)`, B `K N ceil(M/rows)`; WS: A `M K ceil(N/cols)`, B `K N`). WS OFMAP
   writes match (`M N ceil(K/rows)`: one partial-sum write per K fold; neither tool counts
   the partial-sum read-back). OS OFMAP writes exceed vitsim's `M N` by exactly
   `folds x (rows + cols)`: `systolic_compute_os.create_ofmap_demand_mat` adds
   `this_fold_demand.shape[0] + this_fold_demand.shape[1]` to `ofmap_writes` a second time
   after padding, a count of nothing physical, which vitsim does not reproduce.
"""


def _markdown(
    pairs: list[tuple[Run, ScaleSimResult, GemmTiming]],
    failed: list[tuple[Run, str]],
    args: argparse.Namespace,
    wall_s: float,
) -> str:
    ss0 = pairs[0][1]
    versions = sorted({ss.version for _, ss, _ in pairs})
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cfg = CONFIG_TEMPLATE.format(
        run_name="RUN",
        rows="ROWS",
        cols="COLS",
        dataflow="os|ws",
        sram_kib=SRAM_KIB,
        bandwidth=BANDWIDTH_WORDS_PER_CYCLE,
    )
    ran = sorted({r.name for r, _, _ in pairs}, key=[g[0] for g in GEMMS].index)
    lines = [
        "# vitsim's systolic dense engine against SCALE-Sim v3",
        "",
        "`vitsim.simulator.dense_engine.systolic_gemm` against SCALE-Sim "
        f"{', '.join(versions)} (PyPI `scalesim`, Python {ss0.python}) on the GEMMs of one "
        "DeiT-Tiny and one DeiT-Small encoder block (197 tokens; the per-head attention GEMMs "
        "are the same in both models, head_dim 64), on a 64 x 8 and a 32 x 32 array "
        "(rows x cols), output (os) and weight (ws) stationary. ViTCoD's MAC-line engine "
        "(`mac_lines_gemm`) has no SCALE-Sim counterpart; hand-derived cases and a naive twin "
        "in `tests/test_dense_engine.py` check it.",
        "",
        f"- Date: {date}; host: {platform.platform()}; {len(pairs)} SCALE-Sim runs, "
        f"{sum(ss.wall_s for _, ss, _ in pairs) / 60:.1f} min of SCALE-Sim run time summed "
        f"over the runs (`--jobs {args.jobs}` at once"
        + (
            f"; results of earlier runs in `--workdir` reused, so this report took {wall_s:.0f} s)."
            if args.reuse
            else f"; {wall_s / 60:.1f} min wall)."
        ),
        "- Command: `.venv/bin/python benchmarks/validate_scalesim.py --scalesim-python "
        "/tmp/scalesim-venv/bin/python` (SCALE-Sim's venv: `python3 -m venv "
        "/tmp/scalesim-venv && /tmp/scalesim-venv/bin/pip install scalesim==3.0.0 "
        "'numpy<2.4'`; no other pin was needed).",
        "- SCALE-Sim is driven through its Python API (`scalesim.scale_sim.scalesim(..., "
        "input_type_gemm=True).run_scale()`), the path `python -m scalesim.scale -c CFG -t "
        "TOPO -l LAYOUT -p OUT -i gemm` takes, with traces off (`scale.py` hard-codes "
        "`save_disk_space=False` whatever `-s` says; the traces would be gigabytes).",
        "- Topology (`-i gemm`): `Layer, M, N, K,` then `name, M, N, K,` with M x N the "
        "output and K the reduction (trailing comma required). vitsim's `systolic_gemm(m, k, "
        "n)` takes the same M, K, N.",
        f"- GEMMs run: {', '.join(ran)}."
        + (
            " Not run: " + ", ".join(f"{r.key} ({w})" for r, w in failed) + "."
            if failed
            else " Every listed GEMM ran on every array and dataflow."
        ),
        "",
        "Config (SRAMs large enough for whole operands, bandwidth far above demand, so that "
        "nothing stalls):",
        "",
        "```ini",
        cfg.rstrip(),
        "```",
        "",
        "## Findings",
        "",
        *[f"- {f}" for f in _findings(pairs)],
        "",
        "## Cycles",
        "",
        "*SCALE-Sim total*: COMPUTE_REPORT `Total Cycles` (array cycles incl. fill/drain and "
        "stalls, excl. DRAM prefetch); *stalls*: `Stall Cycles`; *incl. prefetch*: `Total "
        "Cycles (incl. prefetch)` (explanation 4); *vitsim total*: "
        "`total_cycles`; *diff* = vitsim - SCALE-Sim; *SCALE-Sim stream*: cycles in which array "
        "row 0 receives an operand, from SCALE-Sim's demand matrix (explanation 3); *vitsim "
        "compute*: `compute_cycles`; *util %*: SCALE-Sim `Overall Util %` and vitsim "
        "`mac_utilization`.",
        "",
        _md_table(TABLE_HEADER, table_rows(pairs)),
        "",
        "## SRAM request counts (8-bit elements, so requests = bytes)",
        "",
        "*IFMAP reads / Filter reads / OFMAP writes*: SCALE-Sim DETAILED_ACCESS_REPORT; "
        "*vitsim A / B / C*: `sram_reads_a_bytes`, `sram_reads_b_bytes`, "
        "`sram_writes_c_bytes`; *folds x (R+C)*: the OS counting artefact (explanation 5).",
        "",
        _md_table(SRAM_HEADER, sram_rows(pairs)),
        "",
        EXPLANATIONS.rstrip(),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
