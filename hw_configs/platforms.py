"""CPU and GPU platform descriptions: the constants of the per-operator roofline baseline.

A :class:`PlatformConfig` says what a general-purpose platform *is* (peak compute per
precision, DRAM bandwidth, power) and how well a framework's kernels use it (achievable
efficiency per operator class, per-kernel launch overhead, and whether a fixed sparse
attention mask runs as dense attention + mask or as sparse kernels). The model that prices a
ViT's operators on it is :mod:`vitsim.simulator.baselines`.

Shipped presets live in ``hw_configs/presets/platforms/*.yaml``; every constant there cites
its source (datasheet or whitepaper) in a comment, and every efficiency factor is labelled an
assumption with its reasoning. They are never fitted to a paper's speedup.

Loading is as strict as the accelerator descriptions (:mod:`vitsim.hw_configs.loader`):
duplicate and unknown keys (naming the allowed ones), missing keys, wrong types, bad enum
values and impossible numbers are all reported at once with their key paths, and
``platform_from_dict(loads_strict(dump_platform(p))) == p`` for every platform.

Units live in the names: ``*_gflop_per_s`` (10^9 floating-point operations per second, a
multiply-add counts 2), ``bandwidth_gb_per_s`` (10^9 bytes per second),
``dispatch_us_per_op`` and ``kernel_launch_us`` (microseconds), ``power_w`` and ``idle_w``
(watts).

The tree (YAML keys = field names)::

    PlatformConfig
      name: str                          a preset's name is its file name
      kind: PlatformKind                 cpu | gpu
      device: str                        the part, in words
      precision: Precision               fp32 | fp16: what the framework's operators run at
      compute: Compute
        fp32_gflop_per_s: float > 0      vector / CUDA-core FP32 peak
        fp16_gflop_per_s: float > 0      optional: non-tensor FP16 peak (absent: no FP16 ALUs)
        fp16_tensor_gflop_per_s: float   optional: matrix-unit FP16 peak, used by the GEMM
                                         classes when precision is fp16
      memory: Memory
        bandwidth_gb_per_s: float > 0    peak DRAM bandwidth
      efficiency: Efficiency             ASSUMPTIONS: achievable fraction of the peaks
        gemm: ClassEfficiency            linear layers (patch embedding, qkv, proj, fc1, ...)
        batched_matmul: ClassEfficiency  attention Q K^T and S V, all heads batched
        elementwise: ClassEfficiency     softmax, layer norm, activations, adds, copies
        sparse_kernel: ClassEfficiency   SDDMM / SpMM in attention mode sparse_kernel
          compute: float in (0, 1]       fraction of the peak FLOP rate
          memory: float in (0, 1]        fraction of the peak DRAM bandwidth
      dispatch_us_per_op: float >= 0     host time of one eager operator call (Python + ATen
                                         dispatcher + allocation; on a GPU also the CUDA
                                         launch API); default 0
      kernel_launch_us: float >= 0       device-side fixed cost of one kernel (GPU launch
                                         latency / minimum kernel time; 0 on a CPU, where the
                                         op runs on the dispatching thread)
      power: Power
        power_w: float > 0               power at full utilisation (TDP, module budget, ...)
        basis: PowerBasis                tdp | module_max | average_board: what power_w is
        idle_w: float >= 0               optional: power with nothing running (absent: the
                                         platform draws power_w whatever it does)
      attention_mode: AttentionMode      dense_masked (default) | sparse_kernel

Time and energy of one operator (:mod:`vitsim.simulator.baselines.roofline`): a CPU runs an
eager op synchronously on the dispatching thread (``dispatch + launch + device time``); a GPU
runs it asynchronously (``max(dispatch, launch + device time)``); energy is
``(idle_w + (power_w - idle_w) x u) x time`` with ``u`` the op's achieved fraction of peak
compute or bandwidth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vitsim.errors import ConfigError, VitsimError
from vitsim.hw_configs.loader import (
    build_validated,
    packaged_file,
    packaged_names,
    plain_data,
    write_text_file,
    yaml_document,
)
from vitsim.hw_configs.schema import (
    FieldCheck,
    Validated,
    doc_field,
    enum_field,
    field_meta,
    pos_float_field,
    str_field,
)
from vitsim.strict_yaml import load_strict, loads_strict

if TYPE_CHECKING:
    pass

__all__ = [
    "AttentionMode",
    "ClassEfficiency",
    "Compute",
    "Efficiency",
    "Memory",
    "OpClass",
    "PlatformConfig",
    "PlatformKind",
    "Power",
    "PowerBasis",
    "Precision",
    "dump_platform",
    "known_platforms",
    "load_platform",
    "platform_from_dict",
    "platform_to_dict",
    "write_platform",
]


# --------------------------------------------------------------------------------------
# Closed vocabularies
# --------------------------------------------------------------------------------------


class PlatformKind(str, Enum):
    CPU = "cpu"
    GPU = "gpu"


class Precision(str, Enum):
    """The number format the framework's operators run at (weights and activations)."""

    FP32 = "fp32"
    FP16 = "fp16"

    @property
    def bytes_per_element(self) -> int:
        return 4 if self is Precision.FP32 else 2


class AttentionMode(str, Enum):
    """How a framework runs a fixed sparse attention mask."""

    # Dense Q K^T, a masked_fill with the fixed mask, dense softmax and dense S V: what
    # PyTorch/timm code for fixed-mask ViTs does (the pruned scores are computed and thrown
    # away), so sparsity saves nothing.
    DENSE_MASKED = "dense_masked"
    # SDDMM for Q K^T and SpMM for S V over the kept scores only, softmax over the kept
    # scores: work and bytes scale with the kept density, at the sparse-kernel efficiency.
    SPARSE_KERNEL = "sparse_kernel"


class PowerBasis(str, Enum):
    """What the power figure of a platform is (energy = power x latency in every case)."""

    TDP = "tdp"  # thermal design power of the package / board: an upper bound
    MODULE_MAX = "module_max"  # the power budget of an embedded module's power mode
    AVERAGE_BOARD = "average_board"  # a stated or measured average board power


class OpClass(str, Enum):
    """Operator classes with their own achievable efficiency."""

    GEMM = "gemm"
    BATCHED_MATMUL = "batched_matmul"
    ELEMENTWISE = "elementwise"
    SPARSE_KERNEL = "sparse_kernel"


# --------------------------------------------------------------------------------------
# The sections
# --------------------------------------------------------------------------------------


def _efficiency(doc: str) -> dict[str, Any]:
    return field_meta(FieldCheck("float", lo=0.0, lo_open=True, hi=1.0), doc)


def _optional_pos_float(doc: str) -> dict[str, Any]:
    return field_meta(FieldCheck("float", lo=0.0, lo_open=True, optional=True), doc)


@dataclass(frozen=True)
class Compute(Validated):
    """Peak arithmetic throughput per precision, GFLOP/s (a multiply-add is 2 FLOP)."""

    fp32_gflop_per_s: float = field(
        metadata=pos_float_field("FP32 vector / CUDA-core peak, GFLOP/s")
    )
    fp16_gflop_per_s: float | None = field(
        default=None,
        metadata=_optional_pos_float("non-tensor FP16 peak, GFLOP/s (absent: no FP16 ALUs)"),
    )
    fp16_tensor_gflop_per_s: float | None = field(
        default=None,
        metadata=_optional_pos_float("matrix-unit (tensor core) FP16 peak, GFLOP/s"),
    )


@dataclass(frozen=True)
class Memory(Validated):
    bandwidth_gb_per_s: float = field(
        metadata=pos_float_field("peak DRAM bandwidth in 10^9 bytes per second")
    )


@dataclass(frozen=True)
class ClassEfficiency(Validated):
    """Achievable fractions of the peaks for one operator class (assumptions)."""

    compute: float = field(metadata=_efficiency("fraction of the peak FLOP rate, in (0, 1]"))
    memory: float = field(metadata=_efficiency("fraction of the peak DRAM bandwidth, in (0, 1]"))


@dataclass(frozen=True)
class Efficiency(Validated):
    """Achievable efficiency per operator class; every value is an assumption."""

    gemm: ClassEfficiency = field(metadata=doc_field("linear layers"))
    batched_matmul: ClassEfficiency = field(metadata=doc_field("attention Q K^T and S V"))
    elementwise: ClassEfficiency = field(
        metadata=doc_field("softmax, layer norm, activations, adds, copies")
    )
    sparse_kernel: ClassEfficiency = field(metadata=doc_field("SDDMM / SpMM (sparse_kernel mode)"))

    def of(self, op_class: OpClass | str) -> ClassEfficiency:
        return getattr(self, OpClass(op_class).value)


@dataclass(frozen=True)
class Power(Validated):
    """Power for energy: ``P = idle_w + (power_w - idle_w) x u`` at utilisation ``u`` in [0, 1].

    The linear idle-to-full model of Fan, Weber and Barroso, "Power provisioning for a
    warehouse-sized computer" (ISCA 2007), per operator. Without ``idle_w`` the platform draws
    ``power_w`` whatever it does (energy = power x latency, the old model).
    """

    power_w: float = field(metadata=pos_float_field("power at full utilisation, W"))
    basis: PowerBasis = field(
        metadata=enum_field(PowerBasis, "what power_w is: tdp, module_max or average_board")
    )
    idle_w: float | None = field(
        default=None,
        metadata=field_meta(FieldCheck("float", lo=0.0, optional=True),
                            "power with nothing running, W (absent: power_w always)"),
    )

    def _cross_problems(self) -> list[tuple[str, str]]:
        if self.idle_w is not None and self.idle_w > self.power_w:
            return [("idle_w", f"idle power {self.idle_w:g} W exceeds power_w "
                               f"{self.power_w:g} W")]
        return []

    @property
    def floor_w(self) -> float:
        """Power at zero utilisation, W."""
        return self.power_w if self.idle_w is None else self.idle_w

    def at(self, utilisation: float) -> float:
        """Power at ``utilisation`` (clipped to [0, 1]), W."""
        u = min(1.0, max(0.0, utilisation))
        return self.floor_w + (self.power_w - self.floor_w) * u


@dataclass(frozen=True)
class PlatformConfig(Validated):
    """One CPU or GPU platform. Build it with :func:`load_platform`."""

    name: str = field(metadata=str_field("platform name (a preset's name is its file name)"))
    kind: PlatformKind = field(metadata=enum_field(PlatformKind, "cpu or gpu"))
    device: str = field(metadata=str_field("the part, in words"))
    precision: Precision = field(
        metadata=enum_field(Precision, "what the operators run at: fp32 or fp16")
    )
    compute: Compute = field(metadata=doc_field("peak compute per precision"))
    memory: Memory = field(metadata=doc_field("DRAM"))
    efficiency: Efficiency = field(metadata=doc_field("achievable efficiency per operator class"))
    kernel_launch_us: float = field(
        metadata=field_meta(FieldCheck("float", lo=0.0),
                            "device-side fixed cost of one kernel, us (0 on a CPU)")
    )
    power: Power = field(metadata=doc_field("power for energy"))
    attention_mode: AttentionMode = field(
        default=AttentionMode.DENSE_MASKED,
        metadata=enum_field(AttentionMode, "dense_masked or sparse_kernel"),
    )
    dispatch_us_per_op: float = field(
        default=0.0,
        metadata=field_meta(FieldCheck("float", lo=0.0),
                            "host time of one eager operator call (framework dispatch), us"),
    )

    def _cross_problems(self) -> list[tuple[str, str]]:
        if self.precision is Precision.FP16 and self.compute.fp16_gflop_per_s is None:
            return [("precision", "fp16 needs compute.fp16_gflop_per_s (this platform has no "
                                  "FP16 arithmetic given)")]
        return []

    @property
    def bytes_per_element(self) -> int:
        return self.precision.bytes_per_element

    @property
    def asynchronous(self) -> bool:
        """Whether host dispatch overlaps device work (a GPU's stream; a CPU's eager op runs
        on the thread that dispatched it)."""
        return self.kind is PlatformKind.GPU

    @property
    def dram_bytes_per_s(self) -> float:
        return self.memory.bandwidth_gb_per_s * 1e9

    def peak_flop_per_s(self, op_class: OpClass | str) -> float:
        """Peak FLOP/s an operator of ``op_class`` can use at this platform's precision.

        At fp16 the GEMM-like classes (gemm, batched_matmul) use the tensor-core peak where
        the platform has one; everything else uses the vector peak of its precision.
        """
        op_class = OpClass(op_class)
        c = self.compute
        if self.precision is Precision.FP32:
            return c.fp32_gflop_per_s * 1e9
        matrix = op_class in (OpClass.GEMM, OpClass.BATCHED_MATMUL)
        if matrix and c.fp16_tensor_gflop_per_s is not None:
            return c.fp16_tensor_gflop_per_s * 1e9
        assert c.fp16_gflop_per_s is not None  # checked on construction
        return c.fp16_gflop_per_s * 1e9


# --------------------------------------------------------------------------------------
# Presets, loading, dumping
# --------------------------------------------------------------------------------------

def known_platforms() -> tuple[str, ...]:
    """Names of the shipped platform presets, sorted (``hw_configs/presets/platforms/*.yaml``)."""
    return packaged_names("platforms")


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text


def load_platform(name_or_path: str | os.PathLike[str]) -> PlatformConfig:
    """A shipped platform preset by name (``rtx-2080ti``) or a platform YAML file."""
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path)):
        path = Path(name_or_path)
        return platform_from_dict(load_strict(path), source=str(path))
    name = str(name_or_path)
    if name in known_platforms():
        entry = packaged_file("platforms", name)
        source = str(entry)
        return platform_from_dict(
            loads_strict(entry.read_text(encoding="utf-8"), source=source), source=source
        )
    if Path(name).is_file():
        return platform_from_dict(load_strict(name), source=name)
    known = ", ".join(known_platforms()) or "(none)"
    raise VitsimError(f"unknown platform {name!r}; known: {known}, or a platform .yaml file",
                      source="--platform")


def platform_from_dict(data: Any, *, source: str | None = None) -> PlatformConfig:
    """Validate a parsed YAML mapping into a :class:`PlatformConfig`; every problem at once."""
    if data is None:
        raise ConfigError(
            [("", "empty document; expected a platform description mapping")], source=source
        )
    problems: list[tuple[str, str]] = []
    cfg = build_validated(PlatformConfig, data, "", problems)
    if problems or cfg is None:
        raise ConfigError(problems or [("", "invalid platform description")], source=source)
    return cfg


def platform_to_dict(cfg: PlatformConfig) -> dict[str, Any]:
    """The platform as nested plain dicts (enums as strings, absent optional fields left out)."""
    return plain_data(cfg)


def dump_platform(cfg: PlatformConfig) -> str:
    """YAML text of ``cfg``; ``platform_from_dict(loads_strict(text)) == cfg``."""
    return yaml_document(platform_to_dict(cfg),
                         f"# vitsim platform description {cfg.name!r}, written by dump_platform\n")


def write_platform(cfg: PlatformConfig, path: str | os.PathLike[str]) -> Path:
    """Write :func:`dump_platform` of ``cfg`` to ``path`` atomically; return the path."""
    return write_text_file(dump_platform(cfg), path)
