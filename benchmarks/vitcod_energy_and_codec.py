"""The figures the README quotes for the `vitcod` preset's energy and its codec.

1. DeiT-Small at 90% (synthetic, seed 0): energy by component, average power (chip and DRAM).
2. Sensitivity of that energy to the register level (mac_array.accumulators_per_line) and to
   the SRAM model (CACTI 7 at 28 nm against the Horowitz-derived table of vitcod-released).
3. The codec on DeiT-Tiny/Small/Base at 90%: attention DRAM bytes, cycles, stalls and the
   data-movement share of attention latency (DRAM bytes at the link's rate over the attention
   cycles), with it and without, at the preset's buffers and with K/V buffers of 160 KiB.

    python benchmarks/vitcod_energy_and_codec.py
"""

from __future__ import annotations

import numpy as np

from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.simulator.counts import STAGES
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic

ATTENTION = [STAGES.index(s) for s in ("decode", "qk", "softmax", "sv")]


def breakdown(result) -> None:
    e = result.energy_by_component_mj()
    total = result.totals.energy_mj
    ms = result.totals.latency_ms
    print(f"  latency {ms:.3f} ms, energy {total:.3f} mJ, average power {total / ms * 1e3:.0f} mW "
          f"(chip {(total - e['dram']) / ms * 1e3:.0f} mW, DRAM {e['dram'] / ms * 1e3:.0f} mW)")
    for k, v in sorted(e.items(), key=lambda kv: -kv[1]):
        if v > 0:
            print(f"    {k:18s} {v:8.3f} mJ  {v / total:6.1%}")


def attention(result, hw) -> dict[str, float]:
    st = result.stages
    sel = np.isin(st.stage, ATTENTION)
    dram = float((st["dram_read_bytes"][sel] + st["dram_write_bytes"][sel]).sum())
    cycles = float(st["total_cycles"][sel].sum())
    return {"dram_mb": dram / 1e6, "cycles": cycles,
            "stall": float(st["stall_cycles"][sel].sum()),
            "movement_share": dram / hw.dram_bytes_per_cycle / cycles}


def main() -> None:
    hw = load_hardware("vitcod")
    small = trace_synthetic(get_spec("deit-small"), sparsity=0.9, seed=0)
    print("== DeiT-Small, 90%, vitcod")
    breakdown(simulate(small, hw))
    print("\n== register level: accumulators_per_line (energy mJ, SRAM weight mJ)")
    for acc in (1, 4, 8, 16, 32):
        r = simulate(small, apply_overrides(hw, [f"mac_array.accumulators_per_line={acc}"]))
        e = r.energy_by_component_mj()
        print(f"  {acc:3d}: {r.totals.energy_mj:7.3f} mJ, sram_weight {e['sram_weight']:6.3f} mJ, "
              f"cycles {r.totals.total_cycles:,.0f}")
    rel = load_hardware("vitcod-released").energy
    table = {f"energy.sram_{a}_pj_per_byte.{b}": getattr(rel, f"sram_{a}_pj_per_byte")[b]
             for a in ("read", "write") for b in ("q", "k", "v", "index", "output", "weight",
                                                  "activation")}
    horowitz = apply_overrides(hw, {"energy.sram_model": "table", **table})
    r = simulate(small, horowitz)
    print(f"\n== SRAM priced by the Horowitz-derived table instead of CACTI: "
          f"{r.totals.energy_mj:.3f} mJ (leakage: logic only)")
    print("\n== codec: attention DRAM MB / cycles / stalls / data-movement share")
    roomy = apply_overrides(hw, ["buffers.k.size_kib=160", "buffers.v.size_kib=160"])
    for model in ("deit-tiny", "deit-small", "deit-base"):
        trace = trace_synthetic(get_spec(model), sparsity=0.9, seed=0)
        for label, base in (("53 KiB K/V", hw), ("160 KiB K/V", roomy)):
            cells = []
            for on in (True, False):
                h = base if on else apply_overrides(base, ["codec.enabled=false"])
                a = attention(simulate(trace, h), h)
                cells.append(f"{'on ' if on else 'off'} {a['dram_mb']:6.2f} MB "
                             f"{a['cycles']:>9,.0f} cyc stall {a['stall']:>7,.0f} "
                             f"movement {a['movement_share']:5.1%}")
            print(f"  {model:10s} {label:11s} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
