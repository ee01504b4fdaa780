"""Benchmark: the shipped sweeps with the process runner, as a user runs them (a fresh
``vitsim sweep`` process per run, traces built inside): ``deit_base_1000`` (1,000 points,
five traces, five baselines) and ``hw_10000`` (10,000 hardware points on one trace).
Also checks that the process runner's table equals the serial runner's.

Issue 12's targets: <= 10 s each with processes.

    python benchmarks/perf/bench_sweeps.py [--runs 3] [--specs deit_base_1000 hw_10000]
                                           [--no-check]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _timing import report, run_timed


def _sweep(spec: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vitsim", "-q", "sweep", spec, "--out", str(out), *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--specs", nargs="+", default=["deit_base_1000", "hw_10000"])
    parser.add_argument("--no-check", action="store_true",
                        help="skip the serial run that checks the tables are identical")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vitsim-bench-") as tmp:
        for spec in args.specs:
            runs = []
            for i in range(args.runs):
                out = Path(tmp) / f"{spec}-{i}"
                runs.append(run_timed(_sweep(spec, out)))
            report(f"`vitsim sweep {spec}` with processes", runs)
            if not args.no_check:
                from vitsim.analysis.sweeps.runner import load_results

                serial = Path(tmp) / f"{spec}-serial"
                run_timed(_sweep(spec, serial, "--serial"))
                same = load_results(serial).equals(load_results(Path(tmp) / f"{spec}-0"))
                print(f"  processes table == serial table: {same}")
            for path in Path(tmp).iterdir():
                shutil.rmtree(path)


if __name__ == "__main__":
    main()
