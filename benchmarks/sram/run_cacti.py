"""28 nm SRAM energy, leakage, access time and area per size, measured by running CACTI 7.

Writes one CACTI config per (device variant, SRAM size), runs the built ``cacti`` binary on
it, parses the report and writes ``cacti_28nm.csv`` beside this file (and prints the table).
Stdlib only; CACTI itself is not part of this repository (see NOTES.md for the commit and
the build):

    python benchmarks/sram/run_cacti.py /path/to/cacti          # or CACTI_BIN=/path/to/cacti

CACTI opens ``tech_params/*.dat`` relative to its working directory, so it is run from the
folder that holds the binary (its source tree). Every run is a plain scratchpad RAM
("cache type" ram, no tag array), 1 bank, 1 read/write port, 8-byte line, 64-bit port,
no ECC, 350 K, 0.028 um (CACTI interpolates between its 32 nm and 22 nm tables).

The script ends with a sanity check: read energy, write energy and leakage must rise with
size (and, for the energy@500MHz objective, every array must fit the 2 ns cycle). Every
violation is printed; the exit status is 1 when the recommended (objective, variant) has one.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Sizes the energy model needs (KiB). CACTI 7 accepts every one of them as given: it does
# not require a power of two, it rounds the rows of a subarray up (ceil), so the modelled
# array can hold a little more than asked; ``modeled_bytes`` records what it modelled.
SIZES_KIB = (2, 4, 8, 16, 20, 32, 53, 64, 108, 128, 159, 256, 512, 1024, 2048)

# (name, data-array cell devices, data-array peripheral devices). ITRS device flavours in
# CACTI's tech tables: hp = high performance (low Vth, fast, leaky), lstp = low standby
# power (high Vth, slow, ~1000x less subthreshold leakage).
VARIANTS = (
    ("hp", "itrs-hp", "itrs-hp"),
    ("lstp", "itrs-lstp", "itrs-lstp"),
    ("lstp-cell_hp-periph", "itrs-lstp", "itrs-hp"),
)

TECH_UM = 0.028
TEMP_K = 350
LINE_BYTES = 8
BUS_BITS = 64

CLOCK_MHZ = 500  # the accelerator's clock: the array must finish an access in one cycle
CYCLE_NS = 1e3 / CLOCK_MHZ

# How CACTI picks the organisation (Ndwl, Ndbl, Nspd, ...) of each array; CACTI keeps the
# candidates whose access time is within delay_dev % of the fastest one, then minimises
# either ED / ED^2 (access time^k x read energy) or the weighted sum of the normalised
# (delay, read energy, leakage, cycle time, area).
#   energy@500MHz (recommended): minimum read energy per access among organisations that
#       fit the 2 ns cycle. CACTI takes no absolute time limit, so the delay slack is tried
#       at 100, 50, 20, 10 and 0 % of the fastest organisation and the first (largest)
#       whose chosen organisation has max(access, cycle) time <= 2 ns is kept.
#   cacti-default: CACTI's shipped cache.cfg objective: within 20 % of the fastest,
#       minimum access_time^2 x read energy (ED^2).
OBJECTIVES: dict[str, dict[str, object]] = {
    "energy@500MHz": {"weights": "0:100:0:0:0", "ed": "NONE", "delay_devs": (100, 50, 20, 10, 0)},
    "cacti-default": {"weights": "0:0:0:100:0", "ed": "ED^2", "delay_devs": (20,)},
}
RECOMMENDED = ("energy@500MHz", "lstp-cell_hp-periph")

# Other knobs are CACTI 7's cache.cfg (commit 1ffd8df) with the SRAM choices above. The
# trailing DDR/IO block is not used by the SRAM model, but CACTI 7 always evaluates its
# off-chip IO model and dies with SIGFPE when those knobs are absent, so the shipped
# values are kept.
CFG_TEMPLATE = """\
-size (bytes) {size_bytes}
-Array Power Gating - "false"
-WL Power Gating - "false"
-CL Power Gating - "false"
-Bitline floating - "false"
-Interconnect Power Gating - "false"
-Power Gating Performance Loss 0.01
-block size (bytes) {line_bytes}
-associativity 1
-read-write port 1
-exclusive read port 0
-exclusive write port 0
-single ended read ports 0
-UCA bank count 1
-technology (u) {tech_um}
-page size (bits) 8192
-burst length 8
-internal prefetch width 8
-Data array cell type - "{cell}"
-Data array peripheral type - "{periph}"
-Tag array cell type - "{cell}"
-Tag array peripheral type - "{periph}"
-output/input bus width {bus_bits}
-operating temperature (K) {temp_k}
-cache type "ram"
-tag size (b) "default"
-access mode (normal, sequential, fast) - "normal"
-design objective (weight delay, dynamic power, leakage power, cycle time, area) {weights}
-deviate (delay, dynamic power, leakage power, cycle time, area) {deviate}
-NUCAdesign objective (weight delay, dynamic power, leakage power, cycle time, area) 100:100:0:0:100
-NUCAdeviate (delay, dynamic power, leakage power, cycle time, area) 10:10000:10000:10000:10000
-Optimize ED or ED^2 (ED, ED^2, NONE): "{ed}"
-Cache model (NUCA, UCA)  - "UCA"
-NUCA bank count 0
-Wire signaling (fullswing, lowswing, default) - "Global_30"
-Wire inside mat - "semi-global"
-Wire outside mat - "semi-global"
-Interconnect projection - "conservative"
-Core count 8
-Cache level (L2/L3) - "L3"
-Add ECC - "false"
-Print level (DETAILED, CONCISE) - "DETAILED"
-Print input parameters - "true"
-Force cache config - "false"
-Ndwl 1
-Ndbl 1
-Nspd 0
-Ndcm 1
-Ndsam1 0
-Ndsam2 0
-dram_type "DDR3"
-io state "WRITE"
-addr_timing 1.0
-mem_density 4 Gb
-bus_freq 800 MHz
-duty_cycle 1.0
-activity_dq 1.0
-activity_ca 0.5
-num_dq 72
-num_dqs 18
-num_ca 25
-num_clk  2
-num_mem_dq 2
-mem_data_width 8
-rtt_value 10000
-ron_value 34
-tflight_value
-num_bobs 1
-capacity 80
-num_channels_per_bob 1
-first metric "Cost"
-second metric "Bandwidth"
-third metric "Energy"
-DIMM model "ALL"
-mirror_in_bob "F"
"""

_NUM = r"([-+0-9.eE]+|inf|nan)"
# Report lines (CACTI 7 io.cc, output_UCA); the first match of each is the bank summary.
PATTERNS = {
    "tech_nm": r"Technology size \(nm\):\s*" + _NUM,
    "size_bytes_cacti": r"Total cache size \(bytes\):\s*" + _NUM,
    "access_ns": r"Access time \(ns\):\s*" + _NUM,
    "cycle_ns": r"Cycle time \(ns\):\s*" + _NUM,
    "read_nj": r"Total dynamic read energy per access \(nJ\):\s*" + _NUM,
    "write_nj": r"Total dynamic write energy per access \(nJ\):\s*" + _NUM,
    "leak_sub_mw": r"Total leakage power of a bank \(mW\):\s*" + _NUM,
    "leak_gate_mw": r"Total gate leakage power of a bank \(mW\):\s*" + _NUM,
    "height_mm": r"Cache height x width \(mm\):\s*" + _NUM,
    "width_mm": r"Cache height x width \(mm\):\s*[-+0-9.eE]+\s*x\s*" + _NUM,
    "area_mm2": r"Data array: Area \(mm2\):\s*" + _NUM,
    "area_eff_pct": r"Area efficiency \(Memory cell area/Total area\)\s*-\s*" + _NUM,
    "Ndwl": r"Best Ndwl :\s*" + _NUM,
    "Ndbl": r"Best Ndbl :\s*" + _NUM,
    "Nspd": r"Best Nspd :\s*" + _NUM,
    "Ndcm": r"Best Ndcm :\s*" + _NUM,
}

COLUMNS = (
    "objective", "delay_dev_pct", "fits_500mhz",
    "variant", "cell_type", "periph_type", "size_kib", "size_bytes_run", "modeled_bytes",
    "read_nj", "write_nj", "leak_sub_mw", "leak_gate_mw", "leak_total_mw",
    "access_ns", "cycle_ns", "area_mm2", "height_mm", "width_mm", "area_eff_pct",
    "Ndwl", "Ndbl", "Nspd", "Ndcm",
    "read_pj_per_access", "write_pj_per_access", "read_pj_per_byte", "write_pj_per_byte",
    "leak_mw_per_kib",
)


def parse_report(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, pattern in PATTERNS.items():
        m = re.search(pattern, text)
        if m is None:
            raise ValueError(f"CACTI report has no {key!r} line")
        out[key] = float(m.group(1))
    return out


def modeled_bytes(size_bytes: int, r: dict[str, float]) -> int:
    """Capacity of the organisation CACTI chose (parameter.cc, DynamicParameter::init_CACTI):
    rows per subarray = ceil(C / (B * Ndbl * Nspd)), columns = ceil(8 * B * Nspd / Ndwl)."""
    rows = math.ceil(size_bytes / (LINE_BYTES * r["Ndbl"] * r["Nspd"]))
    cols = math.ceil(8 * LINE_BYTES * r["Nspd"] / r["Ndwl"])
    return int(rows * cols * r["Ndwl"] * r["Ndbl"]) // 8


def run_cacti(cacti: Path, workdir: Path, variant: tuple[str, str, str], size_kib: int,
              objective: str, delay_dev: int) -> dict[str, float]:
    name, cell, periph = variant
    size_bytes = size_kib * 1024
    obj = OBJECTIVES[objective]
    stem = f"sram_{objective.replace('@', '_at_')}_{name}_{size_kib}KiB_dev{delay_dev}"
    cfg = workdir / f"{stem}.cfg"
    cfg.write_text(CFG_TEMPLATE.format(
        size_bytes=size_bytes, line_bytes=LINE_BYTES, tech_um=TECH_UM, cell=cell,
        periph=periph, bus_bits=BUS_BITS, temp_k=TEMP_K, weights=obj["weights"],
        deviate=f"{delay_dev}:100000:100000:100000:100000", ed=obj["ed"]))
    proc = subprocess.run([str(cacti), "-infile", str(cfg)], cwd=cacti.parent,
                          capture_output=True, text=True, timeout=600, check=False)
    (workdir / f"{stem}.out").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"cacti failed ({proc.returncode}) on {cfg}:\n{proc.stderr[-2000:]}")
    r = parse_report(proc.stdout)
    if int(r["size_bytes_cacti"]) != size_bytes or abs(r["tech_nm"] - TECH_UM * 1000) > 1e-6:
        raise RuntimeError(f"CACTI modelled {r['size_bytes_cacti']} B at {r['tech_nm']} nm, "
                           f"asked {size_bytes} B at {TECH_UM * 1000} nm")
    return r


def run_one(cacti: Path, workdir: Path, variant: tuple[str, str, str], size_kib: int,
            objective: str) -> dict[str, object]:
    devs: tuple[int, ...] = OBJECTIVES[objective]["delay_devs"]  # type: ignore[assignment]
    for dev in devs:
        r = run_cacti(cacti, workdir, variant, size_kib, objective, dev)
        fits = max(r["access_ns"], r["cycle_ns"]) <= CYCLE_NS
        if fits:
            break
    name, cell, periph = variant
    size_bytes = size_kib * 1024
    leak_total = r["leak_sub_mw"] + r["leak_gate_mw"]
    return {
        "objective": objective, "delay_dev_pct": dev, "fits_500mhz": int(fits),
        "variant": name, "cell_type": cell, "periph_type": periph, "size_kib": size_kib,
        "size_bytes_run": size_bytes, "modeled_bytes": modeled_bytes(size_bytes, r),
        **{k: r[k] for k in ("read_nj", "write_nj", "leak_sub_mw", "leak_gate_mw",
                             "access_ns", "cycle_ns", "area_mm2", "height_mm", "width_mm",
                             "area_eff_pct")},
        "leak_total_mw": leak_total,
        **{k: int(r[k]) for k in ("Ndwl", "Ndbl", "Ndcm")},
        "Nspd": r["Nspd"],
        "read_pj_per_access": r["read_nj"] * 1e3,
        "write_pj_per_access": r["write_nj"] * 1e3,
        "read_pj_per_byte": r["read_nj"] * 1e3 / LINE_BYTES,
        "write_pj_per_byte": r["write_nj"] * 1e3 / LINE_BYTES,
        "leak_mw_per_kib": leak_total / size_kib,
    }


def sanity(rows: list[dict[str, object]]) -> list[str]:
    """Within each (objective, variant), energy per access and leakage must rise with size,
    and (energy@500MHz) every array must fit the cycle."""
    problems = []
    for objective in OBJECTIVES:
        for name, _, _ in VARIANTS:
            vr = sorted((r for r in rows if r["variant"] == name and r["objective"] == objective),
                        key=lambda r: r["size_kib"])  # type: ignore[arg-type,return-value]
            tag = f"{objective} {name}"
            for key in ("read_nj", "write_nj", "leak_total_mw"):
                for a, b in itertools.pairwise(vr):
                    if not b[key] > a[key]:  # type: ignore[operator]
                        problems.append(f"{tag}: {key} does not rise from {a['size_kib']} KiB "
                                        f"({a[key]:.6g}) to {b['size_kib']} KiB ({b[key]:.6g})")
            if objective == "energy@500MHz":
                problems += [f"{tag}: {r['size_kib']} KiB does not fit {CYCLE_NS:g} ns "
                             f"(access {r['access_ns']:.3f} ns)"
                             for r in vr if not r["fits_500mhz"]]
    return problems


def fmt(v: object) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cacti", nargs="?", default=os.environ.get("CACTI_BIN"),
                    help="built CACTI 7 binary (default: $CACTI_BIN)")
    ap.add_argument("--out", type=Path, default=HERE / "cacti_28nm.csv")
    ap.add_argument("--keep", type=Path, default=None,
                    help="folder to keep the generated .cfg and CACTI's reports in")
    ap.add_argument("--tech-um", type=float, default=TECH_UM,
                    help="feature size for a cross-check (give --out too); default 0.028")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES_KIB), metavar="KIB")
    args = ap.parse_args(argv)
    if args.tech_um != TECH_UM and args.out == HERE / "cacti_28nm.csv":
        ap.error("--tech-um other than 0.028 needs --out")
    globals()["TECH_UM"] = args.tech_um
    if not args.cacti:
        ap.error("give the cacti binary as an argument or in CACTI_BIN")
    cacti = Path(args.cacti).resolve()
    if not (cacti.parent / "tech_params").is_dir():
        ap.error(f"{cacti.parent} has no tech_params/: run the binary built in CACTI's tree")

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for objective in OBJECTIVES:
            for variant in VARIANTS:
                for kib in args.sizes:
                    rows.append(run_one(cacti, workdir, variant, kib, objective))

    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r[k]) for k in COLUMNS})

    head = ("objective / variant", "KiB", "read pJ", "write pJ", "rd pJ/B", "leak mW",
            "mW/KiB", "t_acc ns", "dev %", "mm^2", "modeled B")
    print(f"CACTI 7, {TECH_UM * 1000:g} nm, {TEMP_K} K, {LINE_BYTES}-byte access, "
          f"1 RW port, 1 bank -> {args.out}")
    print(" ".join(f"{h:<34}" if i == 0 else f"{h:>9}" for i, h in enumerate(head)))
    for r in rows:
        vals = (f"{r['objective']} {r['variant']}", r["size_kib"],
                f"{r['read_pj_per_access']:.3f}", f"{r['write_pj_per_access']:.3f}",
                f"{r['read_pj_per_byte']:.3f}", f"{r['leak_total_mw']:.4g}",
                f"{r['leak_mw_per_kib']:.4g}", f"{r['access_ns']:.3f}", r["delay_dev_pct"],
                f"{r['area_mm2']:.4f}", r["modeled_bytes"])
        print(" ".join(f"{v:<34}" if i == 0 else f"{v!s:>9}" for i, v in enumerate(vals)))

    problems = sanity(rows)
    rec = f"{RECOMMENDED[0]} {RECOMMENDED[1]}:"
    failing = [p for p in problems if p.startswith(rec)]
    for p in problems:
        print("SANITY" if p.startswith(rec) else "note  ", p)
    print(f"sanity ({RECOMMENDED[0]}, {RECOMMENDED[1]}): "
          + ("energy and leakage rise with size, every size fits the cycle" if not failing
             else f"{len(failing)} violation(s)"))
    return 1 if failing else 0

if __name__ == "__main__":
    sys.exit(main())
