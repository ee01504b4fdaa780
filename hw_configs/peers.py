"""Peer accelerators (Sanger, SpAtten): frozen, validated descriptions and their strict loader.

A peer description says what the peer chip *is* (its arrays, precisions, pruning or mask
prediction knobs, buffers, DRAM link, per-action energies) at its **published**
configuration. :mod:`vitsim.simulator.peers.sanger` and :mod:`vitsim.simulator.peers.spatten` run a
workload on it, either as published or normalised to the design under comparison.

The YAML files are read exactly as the hardware descriptions are
(:mod:`vitsim.hw_configs.loader`): duplicate keys and unknown keys are errors (naming the
allowed keys), every problem is reported at once with its key path, values are frozen and
closed vocabularies are enums. Units live in the key names (``clock_mhz``, ``size_kib``,
``*_pj``, ``*_bits``, ``*_cycles``, ``leakage_mw``); ratios are dimensionless
(``head_keep_ratio``). ``load_peer(dump_peer(cfg)) == cfg`` for every preset.

The field-check machinery (``Validated`` and the field helpers) and the recursive builder
are :mod:`vitsim.hw_configs.schema`'s and :mod:`vitsim.hw_configs.loader`'s, so a peer file
gets the same checks and the same messages as a hardware file.

Trees (YAML keys = field names)::

    SangerConfig                       SpAttenConfig
      kind: sanger                       kind: spatten
      name, clock_mhz, data_bits         name, clock_mhz
      array: SangerArray                 units: SpAttenUnits
      prediction: SangerPrediction       pruning: SpAttenPruning
      vector: Vector                     quantization: SpAttenQuantization
      buffers: PeerBuffers               topk: SpAttenTopK
      dram: Dram                         linear: SpAttenLinear
      schedule: PeerSchedule             vector, buffers, dram, schedule (as Sanger's)
      energy: SangerEnergy               energy: SpAttenEnergy
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vitsim.errors import ConfigError
from vitsim.hw_configs.loader import (
    build_validated,
    load_cached,
    packaged_file,
    packaged_names,
    plain_data,
    write_text_file,
    yaml_document,
)
from vitsim.hw_configs.schema import (
    MAX_CLOCK_MHZ,
    Buffer,
    Dram,
    FieldCheck,
    Validated,
    Vector,
    bool_field,
    doc_field,
    enum_field,
    field_meta,
    fraction_field,
    nonneg_float_field,
    pos_float_field,
    pos_int_field,
    show_value,
    str_field,
)
from vitsim.strict_yaml import load_strict, loads_strict

if TYPE_CHECKING:
    pass

__all__ = [
    "PeerBufferEnergy",
    "PeerBuffers",
    "PeerConfig",
    "PeerKind",
    "PeerSchedule",
    "SangerArray",
    "SangerConfig",
    "SangerEnergy",
    "SangerPrediction",
    "SpAttenConfig",
    "SpAttenEnergy",
    "SpAttenLinear",
    "SpAttenPruning",
    "SpAttenQuantization",
    "SpAttenTopK",
    "SpAttenUnits",
    "dump_peer",
    "known_peers",
    "load_peer",
    "load_sanger",
    "load_spatten",
    "peer_from_dict",
    "peer_to_dict",
    "write_peer",
]



class PeerKind(str, Enum):
    """Which peer accelerator a description is of (the top-level ``kind`` key)."""

    SANGER = "sanger"  # Lu et al., "Sanger", MICRO 2021
    SPATTEN = "spatten"  # Wang et al., "SpAtten", HPCA 2021


# --------------------------------------------------------------------------------------
# Field checks beyond the schema's scalar kinds
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FractionTuple(FieldCheck):
    """A non-empty list of numbers in (0, 1], stored as a tuple of floats."""

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            values = tuple(float(v) for v in value)
            for i, v in enumerate(values):
                if not 0.0 < v <= 1.0:
                    return None, f"entry {i} must be in (0, 1], got {v!r}"
            return values, None
        return None, f"expected a non-empty list of numbers in (0, 1], got {show_value(value)}"


def _fractions(doc: str) -> dict[str, Any]:
    return field_meta(_FractionTuple("fractions"), doc)


def _positive_fraction(doc: str) -> dict[str, Any]:
    return fraction_field(doc, lo_open=True)


def _nonneg_int(doc: str) -> dict[str, Any]:
    return field_meta(FieldCheck("int", lo=0), doc)


# --------------------------------------------------------------------------------------
# Sections shared by both peers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerBuffers(Validated):
    """The on-chip buffers a peer's attention and linear layers are tiled by."""

    q: Buffer = field(metadata=doc_field("query buffer"))
    k: Buffer = field(metadata=doc_field("key buffer"))
    v: Buffer = field(metadata=doc_field("value buffer"))
    output: Buffer = field(metadata=doc_field("output buffer"))
    weight: Buffer = field(metadata=doc_field("weight buffer (linear layers)"))
    activation: Buffer = field(metadata=doc_field("activation buffer (linear layers)"))

    def items(self) -> tuple[tuple[str, Buffer], ...]:
        return tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))


@dataclass(frozen=True)
class PeerBufferEnergy(Validated):
    """One energy per byte (pJ) for each of :class:`PeerBuffers`' buffers."""

    q: float = field(metadata=nonneg_float_field("pJ per byte"))
    k: float = field(metadata=nonneg_float_field("pJ per byte"))
    v: float = field(metadata=nonneg_float_field("pJ per byte"))
    output: float = field(metadata=nonneg_float_field("pJ per byte"))
    weight: float = field(metadata=nonneg_float_field("pJ per byte"))
    activation: float = field(metadata=nonneg_float_field("pJ per byte"))

    def __getitem__(self, name: str) -> float:
        if name not in PEER_BUFFER_NAMES:
            raise KeyError(f"unknown buffer {name!r}; buffers: {', '.join(PEER_BUFFER_NAMES)}")
        return float(getattr(self, name))


PEER_BUFFER_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PeerBuffers))


@dataclass(frozen=True)
class PeerSchedule(Validated):
    double_buffering: bool = field(
        metadata=bool_field("loads of the next tile (head, GEMM tile) overlap this tile's compute")
    )


# --------------------------------------------------------------------------------------
# Sanger
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SangerArray(Validated):
    """The score-stationary reconfigurable PE array (SDDMM, SpMM, and dense GEMMs)."""

    pe_rows: int = field(metadata=pos_int_field("PE rows; each holds one packed sub-row"))
    pes_per_row: int = field(metadata=pos_int_field("PEs in a row: kept scores a sub-row holds"))
    port_width: int = field(
        metadata=pos_int_field(
            "key columns broadcast to the rows: the width a mask row is cut into",
        )
    )
    skip_empty_subrows: bool = field(
        metadata=bool_field("a port-wide piece of a mask row with no kept score takes no PE row")
    )
    softmax_cycles_per_pass: int = field(
        metadata=_nonneg_int("cycles per pass for exp and the row sums, in the PEs")
    )

    @property
    def n_pes(self) -> int:
        return self.pe_rows * self.pes_per_row


@dataclass(frozen=True)
class SangerPrediction(Validated):
    """Run-time mask prediction: quantized Q K^T over all scores, softmax, threshold."""

    quant_bits: int = field(metadata=pos_int_field("bits of the quantized Q and K"))
    rows: int = field(metadata=pos_int_field("rows of the dense low-bit prediction array"))
    cols: int = field(metadata=pos_int_field("columns of the dense low-bit prediction array"))
    overlap_with_attention: bool = field(
        metadata=bool_field("predicting head h+1 overlaps the sparse array's work on head h")
    )
    mask_density_factor: float = field(
        metadata=pos_float_field("kept scores of the predicted mask / kept scores of the trace")
    )
    enabled: bool = field(
        default=True,
        metadata=bool_field("charge the prediction (false: the mask is given for free, as "
                            "ViTCoD's fixed mask is; the lower bracket of Sanger's time)"),
    )

    @property
    def n_macs(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class SangerEnergy(Validated):
    """Energy per action (pJ) at ``technology_nm``, and leakage power (mW)."""

    technology_nm: float = field(metadata=pos_float_field("technology node the energies are for"))
    mac_pj: float = field(metadata=nonneg_float_field("one data_bits MAC of the PE array"))
    prediction_mac_pj: float = field(metadata=nonneg_float_field("one quant_bits prediction MAC"))
    softmax_op_pj: float = field(metadata=nonneg_float_field("one softmax element (exp + sum)"))
    vector_op_pj: float = field(
        metadata=nonneg_float_field("one layer-norm/GELU/residual element op")
    )
    sram_read_pj_per_byte: PeerBufferEnergy = field(metadata=doc_field("SRAM reads, per buffer"))
    sram_write_pj_per_byte: PeerBufferEnergy = field(metadata=doc_field("SRAM writes, per buffer"))
    dram_pj_per_byte: float = field(metadata=nonneg_float_field("DRAM energy per byte moved"))
    leakage_mw: float = field(metadata=nonneg_float_field("static power of the chip, mW"))


@dataclass(frozen=True)
class SangerConfig(Validated):
    """Sanger (Lu et al., MICRO 2021) at one configuration."""

    kind: PeerKind = field(metadata=enum_field(PeerKind, "sanger"))
    name: str = field(metadata=str_field("design name (a preset's name is its file name)"))
    clock_mhz: float = field(metadata=pos_float_field("core clock, MHz", hi=MAX_CLOCK_MHZ))
    data_bits: int = field(metadata=pos_int_field("precision of Q, K, V, weights and activations"))
    array: SangerArray = field(metadata=doc_field("the reconfigurable PE array"))
    prediction: SangerPrediction = field(metadata=doc_field("the mask prediction unit"))
    vector: Vector = field(metadata=doc_field("layer norm, GELU and residual adds"))
    buffers: PeerBuffers = field(metadata=doc_field("on-chip buffers"))
    dram: Dram = field(metadata=doc_field("off-chip memory"))
    schedule: PeerSchedule = field(metadata=doc_field("scheduling switches"))
    energy: SangerEnergy = field(metadata=doc_field("per-action energies"))

    def _cross_problems(self) -> list[tuple[str, str]]:
        if self.kind is not PeerKind.SANGER:
            return [("kind", f"a Sanger description has kind: sanger, got {self.kind.value!r}")]
        return []


# --------------------------------------------------------------------------------------
# SpAtten
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpAttenUnits(Validated):
    """The Q·K and attention-probability·V units (broadcast-multiply-reduce arrays)."""

    qk_multipliers: int = field(metadata=pos_int_field("multipliers of the Q·K unit"))
    sv_multipliers: int = field(metadata=pos_int_field("multipliers of the probability·V unit"))
    line_width: int = field(
        metadata=pos_int_field("multipliers reducing into one dot product (a line), = head dim")
    )
    pipeline_latency_cycles: int = field(
        metadata=_nonneg_int("latency of the Q·K -> softmax -> ·V pipeline, paid per layer")
    )

    @property
    def n_multipliers(self) -> int:
        return self.qk_multipliers + self.sv_multipliers


@dataclass(frozen=True)
class SpAttenPruning(Validated):
    """Cascade token pruning and head pruning, chosen on the fly by the top-k engine."""

    token_keep_ratios: tuple[float, ...] = field(
        metadata=_fractions("tokens entering each block / all tokens, block by block; "
                            "a model of another depth reads it by relative depth")
    )
    head_keep_ratio: float = field(
        metadata=_positive_fraction("heads whose attention is computed / all heads")
    )

    def _cross_problems(self) -> list[tuple[str, str]]:
        ratios = self.token_keep_ratios
        for i in range(1, len(ratios)):
            if ratios[i] > ratios[i - 1]:
                return [("token_keep_ratios",
                         f"cascade pruning never brings a token back: entry {i} "
                         f"({ratios[i]!r}) exceeds entry {i - 1} ({ratios[i - 1]!r})")]
        return []


@dataclass(frozen=True)
class SpAttenQuantization(Validated):
    """Progressive quantization: key MSBs first, LSBs re-fetched when attention is flat."""

    query_bits: int = field(metadata=pos_int_field("bits of a query element"))
    key_msb_bits: int = field(metadata=pos_int_field("bits of a key element fetched first"))
    key_lsb_bits: int = field(metadata=_nonneg_int("further key bits fetched on a re-fetch"))
    value_bits: int = field(metadata=pos_int_field("bits of a value element"))
    output_bits: int = field(metadata=pos_int_field("bits of an attention output element"))
    lsb_refetch_fraction: float = field(
        metadata=fraction_field("heads whose keys' LSBs are re-fetched and attention recomputed")
    )


@dataclass(frozen=True)
class SpAttenTopK(Validated):
    """The top-k engine (quick-select with parallel comparators and zero eliminators)."""

    parallelism: int = field(metadata=pos_int_field("elements compared per cycle"))
    round_overhead_cycles: int = field(
        metadata=_nonneg_int("comparator, zero-eliminator, FIFO and state latency per round")
    )


@dataclass(frozen=True)
class SpAttenLinear(Validated):
    """How the linear layers (which SpAtten does not accelerate) are charged."""

    data_bits: int = field(metadata=pos_int_field("precision of weights and activations"))


@dataclass(frozen=True)
class SpAttenEnergy(Validated):
    """Energy per action (pJ) at ``technology_nm``, and leakage power (mW)."""

    technology_nm: float = field(metadata=pos_float_field("technology node the energies are for"))
    mac_pj: float = field(metadata=nonneg_float_field("one multiply with its accumulate"))
    softmax_op_pj: float = field(metadata=nonneg_float_field("one softmax element"))
    vector_op_pj: float = field(
        metadata=nonneg_float_field("one layer-norm/GELU/residual element op")
    )
    topk_op_pj: float = field(
        metadata=nonneg_float_field("one element compared by the top-k engine")
    )
    sram_read_pj_per_byte: PeerBufferEnergy = field(metadata=doc_field("SRAM reads, per buffer"))
    sram_write_pj_per_byte: PeerBufferEnergy = field(metadata=doc_field("SRAM writes, per buffer"))
    dram_pj_per_byte: float = field(metadata=nonneg_float_field("DRAM energy per byte moved"))
    leakage_mw: float = field(metadata=nonneg_float_field("static power of the chip, mW"))


@dataclass(frozen=True)
class SpAttenConfig(Validated):
    """SpAtten (Wang et al., HPCA 2021) at one configuration."""

    kind: PeerKind = field(metadata=enum_field(PeerKind, "spatten"))
    name: str = field(metadata=str_field("design name (a preset's name is its file name)"))
    clock_mhz: float = field(metadata=pos_float_field("core clock, MHz", hi=MAX_CLOCK_MHZ))
    units: SpAttenUnits = field(metadata=doc_field("the Q·K and probability·V units"))
    pruning: SpAttenPruning = field(metadata=doc_field("cascade token and head pruning"))
    quantization: SpAttenQuantization = field(metadata=doc_field("progressive quantization"))
    topk: SpAttenTopK = field(metadata=doc_field("the top-k engine"))
    linear: SpAttenLinear = field(metadata=doc_field("the linear layers"))
    vector: Vector = field(metadata=doc_field("layer norm, GELU and residual adds"))
    buffers: PeerBuffers = field(metadata=doc_field("on-chip buffers"))
    dram: Dram = field(metadata=doc_field("off-chip memory"))
    schedule: PeerSchedule = field(metadata=doc_field("scheduling switches"))
    energy: SpAttenEnergy = field(metadata=doc_field("per-action energies"))

    def _cross_problems(self) -> list[tuple[str, str]]:
        if self.kind is not PeerKind.SPATTEN:
            return [("kind", f"a SpAtten description has kind: spatten, got {self.kind.value!r}")]
        return []


PeerConfig = SangerConfig | SpAttenConfig
_CLASSES: dict[PeerKind, type] = {PeerKind.SANGER: SangerConfig, PeerKind.SPATTEN: SpAttenConfig}


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def known_peers() -> tuple[str, ...]:
    """Names of the shipped peer presets, sorted (``hw_configs/presets/peers/*.yaml``)."""
    return packaged_names("peers")


def peer_from_dict(data: Any, *, source: str | None = None) -> PeerConfig:
    """Validate a parsed YAML mapping into a :class:`SangerConfig` or :class:`SpAttenConfig`.

    The top-level ``kind`` picks the schema. Raises one :class:`ConfigError` (attributed to
    ``source``) listing every problem with its key path.
    """
    if not isinstance(data, dict):
        what = "empty document" if data is None else f"got {type(data).__name__}"
        raise ConfigError([("", f"{what}; expected a peer accelerator mapping")], source=source)
    allowed = ", ".join(k.value for k in PeerKind)
    if "kind" not in data:
        raise ConfigError([("kind", f"missing required key; one of: {allowed}")], source=source)
    try:
        kind = PeerKind(data["kind"])
    except (ValueError, TypeError):
        raise ConfigError([("kind", f"{show_value(data['kind'])} is not one of: {allowed}")],
                          source=source) from None
    problems: list[tuple[str, str]] = []
    cfg = build_validated(_CLASSES[kind], data, "", problems)
    if problems or cfg is None:
        raise ConfigError(problems or [("", "invalid peer description")], source=source)
    return cfg


def _parse_packaged(entry: Any) -> PeerConfig:
    source = str(entry)
    return peer_from_dict(loads_strict(entry.read_text(encoding="utf-8"), source=source),
                          source=source)


def _parse_file(path: Path) -> PeerConfig:
    return peer_from_dict(load_strict(path), source=str(path))


def load_peer(name_or_path: str | os.PathLike[str]) -> PeerConfig:
    """Load a peer description: a shipped preset name (``"sanger"``) or a YAML path; parsed
    once per file and modification time in a process (:func:`~vitsim.hw_configs.loader.
    load_cached`)."""
    text = str(name_or_path)
    if not isinstance(name_or_path, os.PathLike) and text in known_peers():
        return load_cached(packaged_file("peers", text), _parse_packaged, "peer")
    path = Path(name_or_path)
    if isinstance(name_or_path, os.PathLike) or text.endswith((".yaml", ".yml")) \
            or os.sep in text or "/" in text or path.is_file():
        return load_cached(path, _parse_file, "peer")
    known = ", ".join(known_peers()) or "(none)"
    raise ConfigError([("", f"unknown peer preset {text!r}; known: {known}")], source=text)


def load_sanger(name_or_path: str | os.PathLike[str] = "sanger") -> SangerConfig:
    """:func:`load_peer`, checking that the description is of Sanger."""
    cfg = load_peer(name_or_path)
    if not isinstance(cfg, SangerConfig):
        raise ConfigError([("kind", f"expected sanger, got {cfg.kind.value}")],
                          source=str(name_or_path))
    return cfg


def load_spatten(name_or_path: str | os.PathLike[str] = "spatten") -> SpAttenConfig:
    """:func:`load_peer`, checking that the description is of SpAtten."""
    cfg = load_peer(name_or_path)
    if not isinstance(cfg, SpAttenConfig):
        raise ConfigError([("kind", f"expected spatten, got {cfg.kind.value}")],
                          source=str(name_or_path))
    return cfg


# --------------------------------------------------------------------------------------
# Dumping
# --------------------------------------------------------------------------------------



def peer_to_dict(cfg: PeerConfig) -> dict[str, Any]:
    """The config as nested plain dicts and lists (enums as their strings)."""
    return plain_data(cfg)


def dump_peer(cfg: PeerConfig) -> str:
    """YAML text of ``cfg``; ``peer_from_dict(loads_strict(text)) == cfg``."""
    return yaml_document(peer_to_dict(cfg), f"# vitsim peer accelerator {cfg.name!r} "
                         f"({cfg.kind.value}), written by dump_peer\n")


def write_peer(cfg: PeerConfig, path: str | os.PathLike[str]) -> Path:
    """Write :func:`dump_peer` of ``cfg`` to ``path`` atomically; return the path."""
    return write_text_file(dump_peer(cfg), path)
