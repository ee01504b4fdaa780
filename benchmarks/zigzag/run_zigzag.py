"""Driver: evaluate DeiT-Base's four weight GEMMs of one block (batch 1) with ZigZag.

Runs under ZigZag's own environment (PyPI ``zigzag-dse``), never vitsim's; it imports
nothing from vitsim. ``benchmarks/perf/bench_zigzag.py`` starts it as a subprocess with
``$ZIGZAG_PY`` (default ``/work/venv-zigzag/bin/python``).

Each GEMM ``(M x K) @ (K x N)`` is a ZigZag ``Gemm`` layer ``O[b][k] += I[b][c] * W[c][k]``
with loop sizes ``B = M`` (tokens), ``C = K`` (input features), ``K = N`` (output features);
8-bit inputs and weights, 8-bit final outputs, partial sums at the accelerator's
accumulator width (``--psum-bits``). The four layers are independent (each reads its input
from "outside": no inter-layer data reuse), one call of
``zigzag.api.get_hardware_performance_zigzag`` evaluates all four (LOMA temporal-mapping
search, the spatial mapping fixed by the mapping file, optimising latency).

Prints one JSON object on stdout: the time of the import of ``zigzag.api`` and of the API
call (``time.perf_counter``), the number of cost-model evaluations it made, the totals and
each layer's latency (cycles) and energy (pJ).
ZigZag's own log goes to stderr (level WARNING unless ``--log-info``).

    python run_zigzag.py [--accelerator tpu_like|vitcod_like] [--hardware H.yaml
                          --mapping M.yaml] [--psum-bits N] [--lpf-limit 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# DeiT-Base, one encoder block, batch 1: 197 tokens, width 768, MLP 3072.
GEMMS = [  # (name, M, K, N)
    ("qkv", 197, 768, 2304),
    ("proj", 197, 768, 768),
    ("fc1", 197, 768, 3072),
    ("fc2", 197, 3072, 768),
]

# Accelerators: a name -> (hardware yaml, mapping yaml, partial-sum bits). "pkg:" paths are
# inside the installed zigzag package (its shipped examples).
ACCELERATORS = {
    # Shipped example: 32 x 32 weight-stationary systolic array, 16-bit output registers,
    # 2 MB SRAM for inputs/outputs, 64 bit/cycle DRAM.
    "tpu_like": ("pkg:inputs/hardware/tpu_like.yaml", "pkg:inputs/mapping/tpu_like.yaml", 16),
    # Written for this benchmark: vitsim's `vitcod` preset approximated (64 x 8 MACs).
    "vitcod_like": (str(HERE / "vitcod_like.yaml"), str(HERE / "vitcod_like_mapping.yaml"), 32),
}


def gemm_layer(layer_id: int, name: str, m: int, k: int, n: int, psum_bits: int) -> dict:
    return {
        "id": layer_id,
        "name": name,
        "operator_type": "Gemm",
        "equation": "O[b][k]+=I[b][c]*W[c][k]",
        "loop_dims": ["B", "C", "K"],
        "loop_sizes": [m, k, n],
        "operand_precision": {"I": 8, "W": 8, "O": psum_bits, "O_final": 8},
        # I from this layer itself: an input of the workload, not a previous layer's output.
        "operand_source": {"I": layer_id},
    }


def _resolve(path: str) -> str:
    if path.startswith("pkg:"):
        import zigzag

        return str(Path(zigzag.__file__).resolve().parent / path[4:])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerator", default="tpu_like", choices=sorted(ACCELERATORS))
    parser.add_argument("--hardware", help="accelerator yaml (overrides --accelerator's)")
    parser.add_argument("--mapping", help="mapping yaml (overrides --accelerator's)")
    parser.add_argument("--psum-bits", type=int, help="partial-sum precision (bits)")
    parser.add_argument("--lpf-limit", type=int, default=6,
                        help="ZigZag's LOMA lpf_limit (its default 6)")
    parser.add_argument("--log-info", action="store_true", help="keep ZigZag's INFO log")
    args = parser.parse_args()

    # get_hardware_performance_zigzag calls logging.basicConfig(level=INFO), which does
    # nothing once the root logger has a handler: this one decides the level.
    logging.basicConfig(level=logging.INFO if args.log_info else logging.WARNING,
                        stream=sys.stderr)

    t0 = time.perf_counter()
    import zigzag
    from zigzag.api import get_hardware_performance_zigzag
    import_s = time.perf_counter() - t0

    # Count the cost-model evaluations (one per candidate mapping LOMA generates): a counter
    # around CostModelEvaluation.__init__, about a microsecond a call (~2,500 calls).
    from zigzag.cost_model.cost_model import CostModelEvaluation

    n_evaluations = 0
    original_init = CostModelEvaluation.__init__

    def counting_init(self, *a, **kw):  # type: ignore[no-untyped-def]
        nonlocal n_evaluations
        n_evaluations += 1
        original_init(self, *a, **kw)

    CostModelEvaluation.__init__ = counting_init  # type: ignore[method-assign]

    hw_default, map_default, psum_default = ACCELERATORS[args.accelerator]
    hardware = _resolve(args.hardware or hw_default)
    mapping = _resolve(args.mapping or map_default)
    psum_bits = args.psum_bits or psum_default
    workload = [gemm_layer(i, name, m, k, n, psum_bits)
                for i, (name, m, k, n) in enumerate(GEMMS)]

    with tempfile.TemporaryDirectory(prefix="zigzag-dump-") as dump:
        t1 = time.perf_counter()
        energy, latency, cmes = get_hardware_performance_zigzag(
            workload, hardware, mapping,
            opt="latency",
            dump_folder=dump,
            lpf_limit=args.lpf_limit,
            loma_show_progress_bar=False,
        )
        api_s = time.perf_counter() - t1

    layers = []
    shapes = {name: (m, k, n) for name, m, k, n in GEMMS}
    for cme, _extra in cmes[0][1]:
        name = cme.layer.name
        m, k, n = shapes[name]
        layers.append({
            "name": name, "m": m, "k": k, "n": n,
            "latency_cycles": float(cme.latency_total2),
            "ideal_cycles": float(cme.ideal_cycle),
            "energy_pj": float(cme.energy_total),
            "mac_energy_pj": float(cme.mac_energy),
            "mem_energy_pj": float(cme.mem_energy),
            "spatial_mapping": str(cme.spatial_mapping),
            "temporal_mapping": str(cme.temporal_mapping),
        })
    print(json.dumps({
        "zigzag_version": getattr(zigzag, "__version__", "?"),
        "python": sys.version.split()[0],
        "accelerator": args.accelerator if not args.hardware else Path(hardware).stem,
        "hardware": hardware,
        "mapping": mapping,
        "psum_bits": psum_bits,
        "lpf_limit": args.lpf_limit,
        "import_s": import_s,
        "api_s": api_s,
        "cost_model_evaluations": n_evaluations,
        "latency_cycles": float(latency),
        "energy_pj": float(energy),
        "layers": layers,
    }))


if __name__ == "__main__":
    main()
