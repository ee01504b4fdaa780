"""Action counts: what each stage does, before anything is priced.

Timing code produces counts; :mod:`vitsim.simulator.energy` prices them (Accelergy's split).
Counts are kept columnar, one row per (layer, head, stage), in a :class:`StageTable`, so a
DeiT-Base design point with hundreds of rows costs microseconds, not a Python object each.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from vitsim.hw_configs.schema import BUFFER_NAMES

# Stage vocabulary (one ViT vocabulary everywhere; STYLE.md).
STAGES = ("patch_embed", "ln1", "qkv", "q", "kv", "encode", "decode", "qk", "softmax", "sv",
          "proj", "residual", "ln2", "fc1", "activation", "fc2", "classifier")
ENGINES = ("dense", "attention", "codec", "softmax", "vector")

# Integer columns (exact counts) and float columns (cycles) of a StageTable.
COUNT_COLUMNS = (
    "macs",  # MACs on the dense and sparse engines (8-bit)
    "dense_macs",  # of which on the dense engine (zeros of the denser region included)
    "sparse_macs",  # of which on the sparse engine
    "codec_macs",  # encoder and decoder MACs
    "softmax_ops",  # softmax element operations
    "vector_ops",  # layer-norm / GELU / residual element operations
    "dram_read_bytes",
    "dram_write_bytes",
    *(f"sram_read_bytes_{b}" for b in BUFFER_NAMES),
    *(f"sram_write_bytes_{b}" for b in BUFFER_NAMES),
)
CYCLE_COLUMNS = (
    "compute_cycles",  # engine busy on MACs / element ops (fill and drain excluded)
    "fill_cycles",  # pipeline fill and drain of the engine
    "stall_cycles",  # engine waiting for DRAM
    "total_cycles",  # compute + fill + stall: the stage's share of the run's time
    "roofline_cycles",  # max(MACs / MAC rate, DRAM bytes / bandwidth): the stage's own bound
    "dense_busy_cycles",  # cycles the dense engine's lines are busy (utilization numerator)
    "sparse_busy_cycles",
)
INFO_COLUMNS = ("dense_lines", "sparse_lines")


@dataclass(frozen=True, eq=False)
class StageTable:
    """Columnar, read-only records: one row per (layer, head, stage).

    ``layer`` is the block index (-1 for the stem, ``n_layers`` for the classifier); ``head``
    is -1 for stages of a whole block (linear layers, vector ops, the encoder).
    """

    layer: np.ndarray
    head: np.ndarray
    stage: np.ndarray  # int8 codes into STAGES
    engine: np.ndarray  # int8 codes into ENGINES
    columns: MappingProxyType  # name -> array, for COUNT_COLUMNS, CYCLE_COLUMNS, INFO_COLUMNS

    def __len__(self) -> int:
        return int(self.layer.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def total(self, name: str) -> float:
        return float(self.columns[name].sum())

    def stage_names(self) -> list[str]:
        return [STAGES[i] for i in self.stage]

    def engine_names(self) -> list[str]:
        return [ENGINES[i] for i in self.engine]


class StageTableBuilder:
    """Accumulates stage rows (scalars or whole arrays of heads or layers) into a StageTable.

    ``add`` only records what it is given; ``build`` allocates every column once and fills
    the given slices, so unmentioned counts are zero at no per-row cost. Rows come out
    ordered by layer, then in the order they were added (a part may cover several layers,
    e.g. the same GEMM in every block of a uniform model), so the table reads in execution
    order however the simulator grouped its work.
    """

    _KNOWN = frozenset((*COUNT_COLUMNS, *CYCLE_COLUMNS, *INFO_COLUMNS))

    def __init__(self) -> None:
        self._parts: list[tuple[int, bool, dict]] = []

    def add(self, *, layer: int | np.ndarray, head: int | np.ndarray, stage: str, engine: str,
            n: int = 1, **values: float | np.ndarray) -> None:
        """Add ``n`` rows (``n`` heads of one stage, or one row); unknown names are errors."""
        unknown = values.keys() - self._KNOWN
        if unknown:
            raise KeyError(f"unknown stage columns {sorted(unknown)}")
        values.update(layer=layer, head=head, stage=STAGES.index(stage),
                      engine=ENGINES.index(engine))
        single = n == 1 and not any(type(v) is np.ndarray for v in values.values())
        self._parts.append((n, single, values))

    def build(self) -> StageTable:
        total = sum(n for n, _, _ in self._parts)
        dtypes = {"layer": np.int32, "head": np.int32, "stage": np.int8, "engine": np.int8,
                  **dict.fromkeys(COUNT_COLUMNS, np.int64),
                  **dict.fromkeys(CYCLE_COLUMNS, np.float64),
                  **dict.fromkeys(INFO_COLUMNS, np.int32)}
        cat = {name: np.zeros(total, dtype=dtype) for name, dtype in dtypes.items()}
        # Single rows (linear and vector stages, most of the parts) go through one row-major
        # matrix and one fancy-index write per column; multi-row parts (the heads of a block)
        # are written by slice. Float64 holds every count exactly (all are far below 2**53).
        names = tuple(dtypes)
        single_at: list[int] = []
        single_rows: list[list[float]] = []
        start = 0
        for n, single, values in self._parts:
            if single:
                single_at.append(start)
                single_rows.append([values.get(name, 0) for name in names])
            else:
                for name, value in values.items():
                    cat[name][start:start + n] = value
            start += n
        if single_rows:
            matrix = np.array(single_rows, dtype=np.float64)
            for j, name in enumerate(names):
                cat[name][single_at] = matrix[:, j]
        part = np.repeat(np.arange(len(self._parts)), [n for n, _, _ in self._parts])
        order = np.lexsort((part, cat["layer"]))  # stable: heads keep their order
        if np.any(order != np.arange(total)):
            cat = {name: arr[order] for name, arr in cat.items()}
        for arr in cat.values():
            arr.flags.writeable = False
        columns = {k: v for k, v in cat.items() if k not in ("layer", "head", "stage", "engine")}
        return StageTable(cat["layer"], cat["head"], cat["stage"], cat["engine"],
                          MappingProxyType(columns))
