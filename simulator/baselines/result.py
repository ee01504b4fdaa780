"""The common result of a baseline: a CPU/GPU platform (roofline or measured) or a peer
accelerator (Sanger, SpAtten), so ``vitsim compare`` treats every baseline alike.

A baseline's operators are the units it times: framework kernels for a platform
(``linear:qkv``, ``attention:qk``, ``softmax``, ...), stages for an accelerator. Each carries
the ViT stage it belongs to (one of :data:`vitsim.simulator.counts.STAGES`), so latency
breakdowns line up across baselines and with vitsim's own accelerator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType


class BaselineKind(str, Enum):
    ROOFLINE = "roofline"  # a platform's per-operator roofline prediction
    MEASURED = "measured"  # a platform profile timed with torch on a real machine
    ACCELERATOR = "accelerator"  # a peer accelerator model (Sanger, SpAtten)


@dataclass(frozen=True)
class OperatorTime:
    """One operator (or accelerator stage) of one inference, summed over its occurrences."""

    name: str  # e.g. "linear:fc1", "attention:qk", "softmax", "sanger:predict"
    stage: str  # the ViT stage it belongs to (a name in counts.STAGES)
    latency_ms: float
    count: int = 1  # occurrences (kernel launches, layers x heads, ...) summed here
    flops: float = 0.0  # 2 x MACs (0 where not meaningful)
    dram_bytes: float = 0.0
    bound: str = ""  # "compute", "memory", "launch", "measured", ...
    energy_mj: float = 0.0  # where the model prices it (accelerators); 0 = not itemised


@dataclass(frozen=True)
class BaselineResult:
    """Latency and energy of one model on one baseline, with its per-operator breakdown."""

    baseline: str  # preset name, e.g. "xeon-6230", "sanger"
    kind: BaselineKind
    model: str
    batch: int
    latency_ms: float  # one batch
    energy_mj: float  # one batch
    operators: tuple[OperatorTime, ...]
    # How the numbers were obtained: "published" configuration, "normalised" to the design
    # under comparison, the machine a profile was measured on, the attention mode, ...
    provenance: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    @property
    def latency_ms_per_image(self) -> float:
        return self.latency_ms / self.batch

    @property
    def energy_mj_per_image(self) -> float:
        return self.energy_mj / self.batch

    def by_stage_ms(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for op in self.operators:
            out[op.stage] = out.get(op.stage, 0.0) + op.latency_ms
        return out

    def document(self) -> dict:
        """A JSON-ready document (``vitsim baseline --json``)."""
        return {
            "baseline": self.baseline, "kind": self.kind.value, "model": self.model,
            "batch": self.batch, "latency_ms": self.latency_ms, "energy_mj": self.energy_mj,
            "provenance": dict(self.provenance),
            "operators": [
                {"name": o.name, "stage": o.stage, "latency_ms": o.latency_ms,
                 "count": o.count, "flops": o.flops, "dram_bytes": o.dram_bytes,
                 "bound": o.bound, "energy_mj": o.energy_mj}
                for o in self.operators
            ],
        }
