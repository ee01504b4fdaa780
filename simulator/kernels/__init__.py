"""numba kernels of the simulator: arrays and scalars in, arrays and scalars out.

Every kernel is compiled with the flags of :mod:`vitsim.simulator.kernels.jit` and has a slow,
obviously-correct twin in the tests (``tests/test_kernels.py``; the peers' kernel in
``tests/test_peers.py``). Python wrappers elsewhere in the
simulator validate configurations, turn them into scalars and pack the results.
"""

from vitsim.simulator.kernels.peers import sanger_pack_split
from vitsim.simulator.kernels.sparse_rows import (
    GREEDY,
    INFEASIBLE_CYCLES,
    ROUND_ROBIN,
    best_split,
    head_column_counts,
    heads_sparse_cycles,
    heads_sparse_every_split,
    line_loads,
    units_greedy_max_load,
    units_sorted_nonzero,
)
from vitsim.simulator.kernels.split_rows import (
    heads_split_rows_cycles,
    heads_split_rows_every_split,
    split_rows_line_loads,
    units_row_ends,
    units_split_rows_max_load,
)
from vitsim.simulator.kernels.timeline import (
    head_stalls,
    segment_stalls,
    segment_timelines,
    tile_timeline,
)

__all__ = [
    "GREEDY",
    "INFEASIBLE_CYCLES",
    "ROUND_ROBIN",
    "best_split",
    "head_column_counts",
    "head_stalls",
    "heads_sparse_cycles",
    "heads_sparse_every_split",
    "heads_split_rows_cycles",
    "heads_split_rows_every_split",
    "line_loads",
    "sanger_pack_split",
    "segment_stalls",
    "segment_timelines",
    "split_rows_line_loads",
    "tile_timeline",
    "units_greedy_max_load",
    "units_row_ends",
    "units_sorted_nonzero",
    "units_split_rows_max_load",
]
