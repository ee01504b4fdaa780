"""vitsim beside ViTCoD's released simulator, timed on the same mask in one run.

The released simulator (GATECH-EIC/ViTCoD @ b2f7fb5, ``Hardware/Simulator``) runs unchanged
in its own environment: first ``VITCOD_GIT=... bash benchmarks/released/run_released.sh``,
which builds ``benchmarks/released/venv`` and the run folder ``benchmarks/released/run``.
This script then times, on the released DeiT-Tiny 95% mask:

- ``ViTCoD.py`` (attention, head 0 of each layer) and ``ViT_FFN.py`` (linear layers; it
  imports torch) as fresh processes, as a user runs them;
- ``vitsim simulate --trace T --hw vitcod-released --json`` and ``--hw vitcod`` as fresh
  processes (the trace built once beforehand, as ``vitsim trace`` leaves it);
- in process, one design point after the first: ``simulate(trace, hw)`` with a new DRAM
  bandwidth each time (so no cache hit), for ``vitcod-released`` (the released model: every
  stage of the whole network) and ``vitcod`` (all 36 heads, every stage).

    python benchmarks/perf/bench_vs_released.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import report, run_timed, summary

from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file

HERE = Path(__file__).resolve().parent
RELEASED = HERE.parent / "released"
MASK = HERE.parents[2] / "shared" / "data" / "deit_tiny_info_0.95.npy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    py, run = RELEASED / "venv" / "bin" / "python", RELEASED / "run"
    if not py.is_file() or not run.is_dir():
        sys.exit("run benchmarks/released/run_released.sh first (VITCOD_GIT=...)")
    scratch = Path(tempfile.mkdtemp(prefix="vitcod-released-"))
    shutil.copytree(run, scratch / "run")
    root = ["--root", "masks/deit_tiny_lowrank", "--sparse", "0.95"]
    released = {}
    for script in ("ViTCoD.py", "ViT_FFN.py"):
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([str(py), script, *root], cwd=scratch / "run", check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs.append((time.perf_counter() - t0, 0.0, 0.0))
        released[script] = [w for w, _, _ in runs]
        print(f"released {script} (fresh process)\n  wall {summary(released[script], 's')}")

    trace_path = scratch / "real.npz"
    trace = trace_mask_file(MASK, get_spec("deit-tiny"), convention="pruned")
    trace.save(trace_path)
    vitsim_bin = str(Path(sys.executable).with_name("vitsim"))
    cli = {}
    for hw in ("vitcod-released", "vitcod"):
        runs = [run_timed([vitsim_bin, "simulate", "--trace", str(trace_path), "--hw", hw,
                           "--json"]) for _ in range(args.repeat)]
        report(f"vitsim simulate --hw {hw} --json (fresh process)", runs)
        cli[hw] = [w for w, _, _ in runs]

    points = {}
    for name in ("vitcod-released", "vitcod"):
        base = load_hardware(name)
        simulate(trace, base)  # compile and warm
        times = []
        for i in range(21):
            hw = apply_overrides(base, [f"dram.bandwidth_gb_per_s={76.8 + 0.1 * (i + 1)}"]) \
                if name == "vitcod" else base
            t0 = time.perf_counter()
            simulate(trace, hw)
            times.append((time.perf_counter() - t0) * 1e3)
        points[name] = times
        print(f"in process, simulate(trace, {name}) per point\n  {summary(times, 'ms', '.3f')}")

    med = statistics.median
    total_released = med(released["ViTCoD.py"]) + med(released["ViT_FFN.py"])
    cli_released, attention_ms = med(cli["vitcod-released"]), med(released["ViTCoD.py"]) * 1e3
    print("\nratios (medians):")
    print(f"  released ViTCoD.py + ViT_FFN.py, two processes: {total_released:.2f} s; vitsim "
          f"--hw vitcod-released, one process: {cli_released:.2f} s -> "
          f"{total_released / cli_released:.1f}x")
    print(f"  released ViTCoD.py alone (attention, head 0 of each layer): {attention_ms:.0f} ms; "
          f"vitsim in process, vitcod (36 heads, every stage): {med(points['vitcod']):.2f} ms "
          f"-> {attention_ms / med(points['vitcod']):.0f}x")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
