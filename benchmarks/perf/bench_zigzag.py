"""Benchmark: ZigZag (PyPI ``zigzag-dse``, in its own environment) beside vitsim on the same
DeiT-Base GEMMs, both measured in this one run (issue 12).

Workload: DeiT-Base's four weight GEMMs of one encoder block at batch 1 (qkv 197 x 768 ->
2304, proj 197 x 768 -> 768, fc1 197 x 768 -> 3072, fc2 197 x 3072 -> 768).

* ZigZag: ``benchmarks/zigzag/run_zigzag.py`` run by ``$ZIGZAG_PY`` (default
  ``/work/venv-zigzag/bin/python``) as a fresh process per repetition, once per accelerator
  (``tpu_like``, shipped with ZigZag; ``vitcod_like``, written in benchmarks/zigzag/). Timed:
  the whole subprocess (wall) and, inside it, the one ``get_hardware_performance_zigzag``
  call that evaluates the four layers (mapping search + cost model).
* vitsim, in this process (``vitcod`` preset): the four ``tiled_gemm`` calls after
  ``tiled_gemm.cache_clear()``, on a new hardware point each repetition (DRAM bandwidth
  varied); and a whole DeiT-Base 90% design point, ``simulate(trace, hw)``, a new hardware
  point each repetition (the trace built once, numba compiled by a warm-up call first).
  Also vitsim in a fresh process (``$PYTHON -c``: import + the four ``tiled_gemm``), the
  counterpart of ZigZag's subprocess wall time.

Prints medians (min-max) and the ratios ZigZag / vitsim, then each GEMM's latency (cycles)
and energy from ZigZag beside vitsim's ``tiled_gemm`` cycles, as information only: the
architectures and what each tool does differ (ZigZag searches temporal mappings over a memory
hierarchy; vitsim evaluates its one buffer-capacity tiling), so no equivalence is claimed.

    python benchmarks/perf/bench_zigzag.py [--repeat 3] [--vitsim-repeat 21]
        [--accelerators tpu_like vitcod_like] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "benchmarks" / "zigzag" / "run_zigzag.py"
DEFAULT_ZIGZAG_PY = "/work/venv-zigzag/bin/python"

GEMMS = [  # (name, M, K, N): the same table as run_zigzag.py
    ("qkv", 197, 768, 2304),
    ("proj", 197, 768, 768),
    ("fc1", 197, 768, 3072),
    ("fc2", 197, 3072, 768),
]

# vitsim in a fresh process: import, load the preset, the four GEMMs (no numba involved).
VITSIM_CHILD = f"""
import time
t0 = time.perf_counter()
from vitsim.hw_configs.loader import load_hardware
from vitsim.simulator.linear import tiled_gemm
hw = load_hardware("vitcod")
t1 = time.perf_counter()
for name, m, k, n in {GEMMS!r}:
    tiled_gemm(m, k, n, hw, name=name)
print(t1 - t0, time.perf_counter() - t1)
"""


def fmt(values: list[float], scale: float = 1.0, unit: str = "s", digits: int = 2) -> str:
    v = [x * scale for x in values]
    return (f"{statistics.median(v):.{digits}f} {unit} "
            f"({min(v):.{digits}f}-{max(v):.{digits}f})")


def run_zigzag(python: str, accelerator: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(DRIVER), "--accelerator", accelerator],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"ZigZag driver failed ({python} {DRIVER} --accelerator {accelerator}, "
                 f"exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def run_vitsim_child() -> tuple[float, float, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", VITSIM_CHILD], check=True,
                         capture_output=True, text=True).stdout.split()
    return time.perf_counter() - t0, float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="ZigZag subprocess runs per accelerator (and vitsim subprocesses)")
    parser.add_argument("--vitsim-repeat", type=int, default=21,
                        help="in-process vitsim repetitions (tiled_gemm, simulate)")
    parser.add_argument("--accelerators", nargs="+", default=["tpu_like", "vitcod_like"])
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    zigzag_py = os.environ.get("ZIGZAG_PY", DEFAULT_ZIGZAG_PY)
    if not Path(zigzag_py).exists():
        sys.exit(f"ZigZag's python {zigzag_py!r} not found: create the environment "
                 "(python3 -m venv /work/venv-zigzag && /work/venv-zigzag/bin/pip install "
                 "zigzag-dse six) or set ZIGZAG_PY")

    from vitsim.hw_configs.loader import apply_overrides, load_hardware
    from vitsim.simulator.linear import tiled_gemm
    from vitsim.simulator.simulate import simulate
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic

    hw = load_hardware("vitcod")
    print(f"host: {platform.node()} {os.cpu_count()} CPUs, python {platform.python_version()} "
          f"(vitsim), ZIGZAG_PY={zigzag_py}")

    # --- ZigZag and the vitsim subprocess, interleaved --------------------------------------
    zz: dict[str, dict] = {a: {"wall": [], "api": [], "import": [], "last": None}
                           for a in args.accelerators}
    vchild: dict[str, list[float]] = {"wall": [], "import": [], "gemms": []}
    run_vitsim_child()  # warm the file cache for the child's imports, not counted
    for _ in range(args.repeat):
        for a in args.accelerators:
            wall, res = run_zigzag(zigzag_py, a)
            zz[a]["wall"].append(wall)
            zz[a]["api"].append(res["api_s"])
            zz[a]["import"].append(res["import_s"])
            zz[a]["last"] = res
        w, imp, g = run_vitsim_child()
        vchild["wall"].append(w)
        vchild["import"].append(imp)
        vchild["gemms"].append(g)

    # --- vitsim in process -----------------------------------------------------------------
    points = [apply_overrides(hw, [f"dram.bandwidth_gb_per_s={60 + i}"])
              for i in range(2 * args.vitsim_repeat + 2)]
    t = time.perf_counter()
    for name, m, k, n in GEMMS:  # first calls: lazy imports, numba's cache; not counted
        tiled_gemm(m, k, n, points[-2], name=name)
    warm_gemm_s = time.perf_counter() - t
    gemm_times = []
    for p in points[:args.vitsim_repeat]:
        tiled_gemm.cache_clear()
        t = time.perf_counter()
        for name, m, k, n in GEMMS:
            tiled_gemm(m, k, n, p, name=name)
        gemm_times.append(time.perf_counter() - t)
    tiled_gemm.cache_clear()
    trace = trace_synthetic(get_spec("deit-base"), sparsity=0.9, seed=0)
    t = time.perf_counter()
    simulate(trace, points[-1])  # numba compilation or its on-disk cache
    warm_s = time.perf_counter() - t
    sim_times = []
    for p in points[args.vitsim_repeat:2 * args.vitsim_repeat]:
        t = time.perf_counter()
        simulate(trace, p)
        sim_times.append(time.perf_counter() - t)
    tiled_gemm.cache_clear()
    vit_cycles = {name: tiled_gemm(m, k, n, hw, name=name) for name, m, k, n in GEMMS}

    # --- report ----------------------------------------------------------------------------
    first = zz[args.accelerators[0]]["last"]
    print(f"zigzag-dse {first['zigzag_version']} (python {first['python']}); "
          f"ZigZag runs: {args.repeat} per accelerator, vitsim in-process runs: "
          f"{args.vitsim_repeat}; medians (min-max)\n")
    g_med = statistics.median(gemm_times)
    s_med = statistics.median(sim_times)
    c_med = statistics.median(vchild["wall"])
    rows: list[tuple[str, str]] = []
    for a in args.accelerators:
        rows.append((f"ZigZag {a}: get_hardware_performance_zigzag, 4 GEMMs",
                     fmt(zz[a]["api"])))
        rows.append((f"ZigZag {a}: whole subprocess (python start, import, API)",
                     fmt(zz[a]["wall"])))
        rows.append((f"ZigZag {a}: import zigzag.api (in driver)",
                     fmt(zz[a]["import"])))
    rows.append(("vitsim: 4 x tiled_gemm, cold cache, new hw point",
                 fmt(gemm_times, 1e3, "ms", 3)))
    rows.append(("vitsim: simulate(DeiT-Base 90%, whole model), new hw point",
                 fmt(sim_times, 1e3, "ms")))
    rows.append(("vitsim: whole subprocess (python start, import, 4 x tiled_gemm)",
                 fmt(vchild["wall"])))
    rows.append(("vitsim: first 4 x tiled_gemm in this process (warm-up), once",
                 f"{warm_gemm_s * 1e3:.1f} ms"))
    rows.append(("vitsim: first simulate call (warm-up), once",
                 f"{warm_s * 1e3:.1f} ms"))
    width = max(len(r[0]) for r in rows)
    for label, text in rows:
        print(f"  {label:<{width}}  {text}")

    print("\nratios ZigZag / vitsim (medians):")
    for a in args.accelerators:
        api = statistics.median(zz[a]["api"])
        wall = statistics.median(zz[a]["wall"])
        print(f"  {a}: API call / 4 x tiled_gemm        = {api / g_med:,.0f}x")
        print(f"  {a}: API call / simulate(whole DeiT-B) = {api / s_med:,.0f}x "
              "(vitsim does the whole model: 12 blocks, attention included)")
        print(f"  {a}: subprocess / vitsim subprocess     = {wall / c_med:,.1f}x")
        n_cme = zz[a]["last"]["cost_model_evaluations"]
        per_cme = api / n_cme
        print(f"  {a}: per evaluation: ZigZag {per_cme * 1e3:.2f} ms per cost-model evaluation "
              f"({n_cme:,} evaluations = candidate mappings) / vitsim "
              f"{g_med / len(GEMMS) * 1e3:.3f} ms per tiled_gemm = "
              f"{per_cme / (g_med / len(GEMMS)):,.0f}x")

    print("\nPer GEMM, as information (different architectures and models; no equivalence "
          "claimed):")
    print("  vitsim: `vitcod` preset, 512 MACs (64 lines x 8), one fixed tiling; ZigZag "
          "tpu_like: 32 x 32 systolic (1,024 MACs), its own memories; ZigZag vitcod_like: "
          "a hand-written approximation of `vitcod` (benchmarks/zigzag/NOTES.md).")
    head = f"  {'GEMM':<5} {'M x K -> N':<17} {'vitsim cycles':>14}"
    for a in args.accelerators:
        head += f" {'ZZ ' + a + ' cycles':>22} {'ZZ ' + a + ' uJ':>18}"
    print(head)
    for name, m, k, n in GEMMS:
        line = f"  {name:<5} {f'{m} x {k} -> {n}':<17} {vit_cycles[name].total_cycles:>14,.0f}"
        for a in args.accelerators:
            lay = next(x for x in zz[a]["last"]["layers"] if x["name"] == name)
            line += f" {lay['latency_cycles']:>22,.0f} {lay['energy_pj'] / 1e6:>18,.1f}"
        print(line)
    total_v = sum(g.total_cycles for g in vit_cycles.values())
    line = f"  {'total':<5} {'':<17} {total_v:>14,.0f}"
    for a in args.accelerators:
        res = zz[a]["last"]
        line += f" {res['latency_cycles']:>22,.0f} {res['energy_pj'] / 1e6:>18,.1f}"
    print(line)
    print("  (vitsim cycles: tiled_gemm total_cycles at the preset's 76.8 GB/s; ZigZag: "
          "latency_total2 and energy_total of the latency-optimal mapping LOMA found)")

    if args.json:
        args.json.write_text(json.dumps({
            "zigzag": zz, "vitsim_child": vchild, "vitsim_tiled_gemm_s": gemm_times,
            "vitsim_simulate_s": sim_times, "vitsim_first_simulate_s": warm_s,
            "vitsim_first_tiled_gemm_s": warm_gemm_s,
            "vitsim_cycles": {k: v.total_cycles for k, v in vit_cycles.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
