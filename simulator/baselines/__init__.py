"""CPU and GPU baselines, and the result every baseline (platform or peer) shares.

- ``operators``: the operators a framework (PyTorch eager) runs for a ViT, with FLOPs and bytes;
- ``roofline``: those operators priced on a platform preset (peak, bandwidth, efficiencies,
  launch cost);
- ``profile``: per-operator times measured on a real machine (``vitsim baseline measure``),
  read back as a baseline;
- ``result``: :class:`BaselineResult`, what ``vitsim compare`` reads from every baseline.

A new platform is a YAML preset in ``hw_configs/presets/platforms/``, not code here.
"""

from vitsim.simulator.baselines.operators import PlatformOp, block_densities, platform_operators
from vitsim.simulator.baselines.profile import (
    PlatformProfile,
    dump_profile,
    load_profile,
    measured,
    profile_from_dict,
    profile_from_timings,
    profile_to_dict,
    write_profile,
)
from vitsim.simulator.baselines.result import BaselineKind, BaselineResult, OperatorTime
from vitsim.simulator.baselines.roofline import op_time_s, roofline

__all__ = [
    "BaselineKind",
    "BaselineResult",
    "OperatorTime",
    "PlatformOp",
    "PlatformProfile",
    "block_densities",
    "dump_profile",
    "load_profile",
    "measured",
    "op_time_s",
    "platform_operators",
    "profile_from_dict",
    "profile_from_timings",
    "profile_to_dict",
    "roofline",
    "write_profile",
]
