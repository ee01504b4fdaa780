"""The hardware description: frozen, validated dataclasses for one accelerator design point.

A :class:`HardwareConfig` says what the chip *is* (MAC lines, engines, buffers, DRAM link,
per-action energies) and which hardware-side policies it runs (row scheduling, line
allocation, polarization, double buffering). It says nothing about the workload (masks,
densities) or the mapping of one particular layer: those are the workload's and the
scheduler's (STYLE.md, "Three inputs stay apart").

Every dataclass checks itself on construction (types: an ``int`` field takes an ``int`` and
never a ``bool``; a float field takes an ``int`` or ``float`` and stores a ``float``; ranges;
enum values), and the YAML loader (:func:`vitsim.hw_configs.loader.hardware_from_dict`)
runs the same checks over a whole file, reporting every problem at once with its key path.

Units live in the names: ``clock_mhz`` (MHz), ``bandwidth_gb_per_s`` (10^9 bytes per
second), ``size_kib`` (KiB = 1024 bytes), ``*_pj`` (picojoules per action),
``*_pj_per_byte`` (picojoules per byte moved), ``leakage_mw`` (milliwatts),
``technology_nm`` (nanometres).

The tree (YAML keys = field names)::

    HardwareConfig
      name: str
      clock_mhz: float > 0
      data_bits: int > 0                     operand width of MACs and on-chip data
      mac_array: MacArray                    the MAC lines shared by the dense/sparse engines
        n_lines: int > 0
        macs_per_line: int > 0
      engines: Engines
        dense: DenseEngine
          kind: DenseEngineKind              mac_lines | systolic
          rows, cols: int > 0                systolic only (rows * cols MACs)
          dataflow: Dataflow                 systolic only: os | ws
        sparse: SparseEngine
          enabled: bool                      false = dense-only design (attention masked)
          row_policy: RowPolicy              round_robin | greedy | balanced
          dataflow: SparseDataflow           k_stationary | rows
      allocation: Allocation
        policy: AllocationPolicy             static | proportional | search
        static_dense_fraction: float in [0, 1]
      codec: Codec                           Q/K head-axis auto-encoder
        enabled: bool
        compression_ratio: float in (0, 1]  compressed heads = ceil(ratio * h)
        encoder_lines, decoder_lines: int > 0  (lines of mac_array.macs_per_line MACs)
      softmax: Softmax
        ops_per_cycle: int > 0               elements (exp + accumulate + divide) per cycle
      vector: Vector
        ops_per_cycle: int > 0               element ops (layer norm, GELU, residual add)
      buffers: Buffers                       one Buffer per BufferName
        q, k, v, index, output, weight, activation: Buffer
          size_kib: float > 0
      dram: Dram
        bandwidth_gb_per_s: float > 0
        kind: DramKind                       ddr4 | lpddr4 | hbm2
      schedule: Schedule
        double_buffering: bool
        polarization: bool                   false = every kept score on the sparser engine
      energy: Energy
        technology_nm: float > 0
        mac_pj, codec_mac_pj, softmax_op_pj, vector_op_pj: float >= 0
        sram_read_pj_per_byte: BufferEnergy  one float >= 0 per BufferName
        sram_write_pj_per_byte: BufferEnergy
        dram_pj_per_byte: float >= 0
        leakage_mw: float >= 0
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field, fields
from enum import Enum
from functools import cache
from typing import Any

from vitsim.errors import ConfigError
from vitsim.hw_configs.sram import cacti_28nm

# --------------------------------------------------------------------------------------
# Closed vocabularies
# --------------------------------------------------------------------------------------


class DenseEngineKind(str, Enum):
    """How the dense engine is built."""

    MAC_LINES = "mac_lines"  # ViTCoD: the dense engine takes a share of the MAC lines
    SYSTOLIC = "systolic"  # an R x C systolic array of its own (SCALE-Sim style)


class Dataflow(str, Enum):
    """Systolic-array dataflow, as SCALE-Sim defines them (Samajdar et al., ISPASS 2020)."""

    OS = "os"  # output stationary: each PE accumulates one output element
    WS = "ws"  # weight stationary: each PE holds one weight; inputs stream through


class RowPolicy(str, Enum):
    """How the sparser engine assigns attention rows to its MAC lines."""

    ROUND_ROBIN = "round_robin"  # row i goes to line i mod n_lines
    GREEDY = "greedy"  # longest-processing-time first: longest row to the least-loaded line
    # Scores (not rows) spread evenly over the lines, long rows split with partial sums merged:
    # the ideal balance ViTCoD's released simulator assumes (ceil(nnz / sparse lines)).
    BALANCED = "balanced"


class SparseDataflow(str, Enum):
    """How the sparser engine maps its kept scores onto MAC lines."""

    # ViTCoD's dataflow (HPCA 2023, Sec. V; its released code calls it K-stationary): Q K^T
    # by key columns of the CSC view, a line holding keys while the queries that keep them
    # stream past (columns to lines longest first); S V output-stationary, the rows laid end
    # to end and split evenly across lines, split rows reduced across lines at a cost.
    K_STATIONARY = "k_stationary"
    # Whole query rows on lines for both Q K^T and S V, assigned by ``row_policy`` (ablation).
    ROWS = "rows"


class CodecHeads(str, Enum):
    """How many compressed heads the auto-encoder keeps."""

    # ceil(compression_ratio x h) for every block
    RATIO = "ratio"
    # the block's own auto-encoder as ViTCoD trained it (BlockSpec.ae_heads, from ViTCoD's
    # model code); ceil(compression_ratio x h) where the model does not say
    TRAINED = "trained"


class SramModel(str, Enum):
    """Where the SRAM energies come from."""

    TABLE = "table"  # the per-buffer pJ/byte tables of the preset
    CACTI_28NM = "cacti_28nm"  # each buffer's size through hw_configs/sram.py (CACTI 7, 28 nm)


class DecoderPlacement(str, Enum):
    """Where the Q/K decoder runs."""

    # Its own MAC lines at the array's edge: decoding streams into the engines during Q K^T.
    DEDICATED = "dedicated"
    # On the MAC array's own lines, a pre-processing phase before each group's Q K^T: the
    # cost ViTCoD's released simulator charges (PRE_cycles at the array's rate, added to the
    # attention's compute).
    ARRAY = "array"


class ReferenceModel(str, Enum):
    """Another simulator's cost model, reproduced exactly instead of vitsim's own."""

    # ViTCoD's released simulator (GATECH-EIC/ViTCoD, Hardware/Simulator/ViTCoD.py and
    # ViT_FFN.py at commit b2f7fb5): see vitsim.simulator.released.
    VITCOD_RELEASED = "vitcod_released"


class AllocationPolicy(str, Enum):
    """How the MAC lines are split between the dense and sparse engines."""

    STATIC = "static"  # a fixed fraction (allocation.static_dense_fraction) goes dense
    PROPORTIONAL = "proportional"  # ViTCoD's dynamic allocation: in proportion to the work
    SEARCH = "search"  # the best split found by trying them


class DramKind(str, Enum):
    """The off-chip memory technology; decides the default DRAM energy per bit."""

    DDR4 = "ddr4"
    LPDDR4 = "lpddr4"
    HBM2 = "hbm2"

    @property
    def default_pj_per_byte(self) -> float:
        """Energy per byte moved over this kind of DRAM interface, from :data:`DRAM_PJ_PER_BIT`."""
        return DRAM_PJ_PER_BIT[self] * 8.0


class BufferName(str, Enum):
    """The on-chip buffers every design has (the energy tables are keyed by these)."""

    Q = "q"
    K = "k"
    V = "v"
    INDEX = "index"  # the sparser engine's CSR/COO index stream
    OUTPUT = "output"
    WEIGHT = "weight"
    ACTIVATION = "activation"


BUFFER_NAMES: tuple[str, ...] = tuple(b.value for b in BufferName)

# Energy per bit moved across a DRAM interface (pJ/bit), per kind. Whole-access figures
# (activate + I/O), the granularity a per-byte count can be priced at.
DRAM_PJ_PER_BIT: dict[DramKind, float] = {
    # Horowitz, "Computing's energy problem", ISSCC 2014, Fig. 1.1.9: a 64-bit DRAM access
    # costs 1.3-2.6 nJ; the low end, 1300 pJ / 64 bit = 20.3 pJ/bit (a DDR3-era figure, so
    # an upper bound for DDR4 at 1.2 V).
    DramKind.DDR4: 1300.0 / 64.0,
    # Accelergy hwcomponents-cacti DRAM table (type2energy["LPDDR4"] = 8 pJ/bit).
    DramKind.LPDDR4: 8.0,
    # Same table, type2energy["HBM2"] = 3.9 pJ/bit, the figure of O'Connor et al.,
    # "Fine-Grained DRAM", MICRO 2017.
    DramKind.HBM2: 3.9,
}

# --------------------------------------------------------------------------------------
# Field checks (shared by construction and by the YAML loader)
# --------------------------------------------------------------------------------------

_CHECK = "vitsim_check"


@dataclass(frozen=True)
class FieldCheck:
    """What one scalar field accepts."""

    kind: str  # "int" | "float" | "bool" | "str" | "enum"
    lo: float | None = None
    lo_open: bool = False
    hi: float | None = None
    hi_open: bool = False
    enum: type[Enum] | None = None
    optional: bool = False  # None is allowed (the field may be absent)

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        """Return ``(value as stored, None)`` or ``(None, message)``."""
        if value is None:
            if self.optional:
                return None, None
            return None, f"expected {self._expected()}, got null"
        if self.kind == "bool":
            if isinstance(value, bool):
                return value, None
            return None, f"expected true or false, got {show_value(value)}"
        if self.kind == "str":
            if isinstance(value, str) and value.strip():
                return value, None
            return None, f"expected a non-empty string, got {show_value(value)}"
        if self.kind == "enum":
            assert self.enum is not None
            if isinstance(value, self.enum):
                return value, None
            allowed = ", ".join(str(m.value) for m in self.enum)
            if isinstance(value, str):
                try:
                    return self.enum(value), None
                except ValueError:
                    pass
            return None, f"{show_value(value)} is not one of: {allowed}"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return None, f"expected an integer, got {show_value(value)}"
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None, f"expected a number, got {show_value(value)}"
            value = float(value)
            if not math.isfinite(value):
                return None, f"expected a finite number, got {show_value(value)}"
        msg = self._range_problem(value)
        return (None, msg) if msg else (value, None)

    def _range_problem(self, value: float) -> str | None:
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if low_bad and self._physical_bound():  # the lower bound is the news: say it alone
            return f"must be {dataclasses.replace(self, hi=None)._range_text()}, got {value!r}"
        if low_bad or high_bad:
            return f"must be {self._range_text()}, got {value!r}"
        return None

    def _physical_bound(self) -> bool:
        """A count or quantity with a physical upper bound (not a fraction in [0, 1])."""
        return self.lo is not None and self.hi is not None and self.hi > 1 \
            and not self.hi_open and 0 <= self.lo <= 1

    def _range_text(self) -> str:
        if self._physical_bound() and self.hi is not None:
            # A physical upper bound on a count or quantity: "a positive integer, at most N".
            low = dataclasses.replace(self, hi=None)._range_text()
            return f"{low}, at most {_num(self.hi)}"
        if self.lo is not None and self.hi is not None:
            left = "(" if self.lo_open else "["
            right = ")" if self.hi_open else "]"
            return f"in {left}{_num(self.lo)}, {_num(self.hi)}{right}"
        if self.lo is not None:
            if self.kind == "int" and self.lo == 1 and not self.lo_open:
                return "a positive integer"
            if self.lo == 0:
                return "positive" if self.lo_open else "non-negative"
            return f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        return "any value"

    def _expected(self) -> str:
        return {
            "bool": "true or false",
            "str": "a non-empty string",
            "int": "an integer",
            "float": "a number",
            "enum": "one of: " + ", ".join(str(m.value) for m in (self.enum or ())),
        }[self.kind]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def show_value(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}" if not isinstance(value, str) else text


def field_meta(check: FieldCheck, doc: str) -> dict[str, Any]:
    """Field metadata: how the field is checked, and what it means (with its unit)."""
    return {_CHECK: check, "doc": doc}


# Physical upper bounds. A value past them describes no chip, and would make the simulator
# allocate or loop on it (10^9 MAC lines, a 1e300 KiB buffer): refused with the range instead.
MAX_COUNT = 1 << 20  # lines, MACs per line, PEs, array rows/columns, ops per cycle
MAX_BITS = 64  # operand precisions
MAX_CLOCK_MHZ = 100_000.0  # 100 GHz
MAX_SIZE_KIB = float(1 << 30)  # 1 TiB of on-chip memory
# Any other positive quantity (GB/s, GFLOP/s, W, pJ, mW, nm): 1e12 GB/s is what studies
# (and the tests) use for an unlimited link.
MAX_QUANTITY = 1e12
MIN_BANDWIDTH_GB_PER_S = 1e-3


def pos_int_field(doc: str, *, optional: bool = False, hi: int = MAX_COUNT) -> dict[str, Any]:
    return field_meta(FieldCheck("int", lo=1, hi=hi, optional=optional), doc)


def pos_float_field(doc: str, *, hi: float = MAX_QUANTITY) -> dict[str, Any]:
    return field_meta(FieldCheck("float", lo=0.0, lo_open=True, hi=hi), doc)


def nonneg_float_field(doc: str, *, hi: float = MAX_QUANTITY) -> dict[str, Any]:
    return field_meta(FieldCheck("float", lo=0.0, hi=hi), doc)


def fraction_field(doc: str, *, lo_open: bool = False) -> dict[str, Any]:
    return field_meta(FieldCheck("float", lo=0.0, lo_open=lo_open, hi=1.0), doc)


def bool_field(doc: str) -> dict[str, Any]:
    return field_meta(FieldCheck("bool"), doc)


def str_field(doc: str) -> dict[str, Any]:
    return field_meta(FieldCheck("str"), doc)


def enum_field(enum: type[Enum], doc: str, *, optional: bool = False) -> dict[str, Any]:
    return field_meta(FieldCheck("enum", enum=enum, optional=optional), doc)


def doc_field(doc: str) -> dict[str, Any]:
    """Metadata of a nested section (checked by its own dataclass)."""
    return {"doc": doc}


@cache
def _section_types(cls: type) -> dict[str, type]:
    """Field name -> dataclass type, for the fields of ``cls`` that are nested sections."""
    hints = typing.get_type_hints(cls)
    out: dict[str, type] = {}
    for f in fields(cls):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and type(None) in typing.get_args(hint):
            hint = args[0]  # an optional section: X | None
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) \
                and _CHECK not in f.metadata:
            out[f.name] = hint
    return out


def check_fields(cls: type, values: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check the given field values of dataclass ``cls``; return (coerced values, problems).

    Only the fields present in ``values`` are checked, so that a partial section still has
    all of its bad values reported. Problems are ``(field name, message)`` pairs.
    """
    out: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    sections = _section_types(cls)
    for f in fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        check: FieldCheck | None = f.metadata.get(_CHECK)
        if check is not None:
            coerced, msg = check.coerce(value)
            if msg:
                problems.append((f.name, msg))
            else:
                out[f.name] = coerced
        elif f.name in sections:
            if value is None and f.default is None:  # an optional section left out
                out[f.name] = None
            elif isinstance(value, sections[f.name]):
                out[f.name] = value
            else:
                problems.append(
                    (f.name, f"expected a {sections[f.name].__name__}, got {show_value(value)}")
                )
        else:
            out[f.name] = value
    return out, problems


class Validated:
    """Mixin: check every field (and the cross-field rules) when a dataclass is built."""

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        coerced, problems = check_fields(type(self), values)
        for name, value in coerced.items():
            # Store the checked form (str -> enum, int -> float) so equal configs compare
            # and hash equal however they were built.
            object.__setattr__(self, name, value)
        if not problems:
            problems = self._cross_problems()
        if problems:
            raise ConfigError(problems)

    def _cross_problems(self) -> list[tuple[str, str]]:
        """Rules that tie several fields of this section together."""
        return []


# --------------------------------------------------------------------------------------
# The sections
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MacArray(Validated):
    """The MAC lines that the dense and sparse engines share (ViTCoD: 64 lines x 8 MACs)."""

    n_lines: int = field(metadata=pos_int_field("number of MAC lines"))
    macs_per_line: int = field(
        metadata=pos_int_field("MACs in one line (the SIMD width of a line)")
    )
    accumulators_per_line: int = field(
        default=1,
        metadata=pos_int_field("partial-sum registers of a line: the longest stripe of rows "
                               "over which a line keeps its weights in registers", hi=1024))

    @property
    def n_macs(self) -> int:
        return self.n_lines * self.macs_per_line


@dataclass(frozen=True)
class DenseEngine(Validated):
    """The engine for dense work (linear layers, the denser attention region).

    ``kind = mac_lines``: it takes its share of :class:`MacArray` lines (``rows``, ``cols``
    and ``dataflow`` must be absent). ``kind = systolic``: an ``rows x cols`` systolic array
    of its own with the given dataflow (all three required).
    """

    kind: DenseEngineKind = field(metadata=enum_field(DenseEngineKind, "mac_lines or systolic"))
    rows: int | None = field(default=None, metadata=pos_int_field("array rows", optional=True))
    cols: int | None = field(default=None, metadata=pos_int_field("array columns", optional=True))
    dataflow: Dataflow | None = field(
        default=None, metadata=enum_field(Dataflow, "os or ws", optional=True)
    )

    def _cross_problems(self) -> list[tuple[str, str]]:
        problems = []
        systolic_fields = ("rows", "cols", "dataflow")
        if self.kind is DenseEngineKind.SYSTOLIC:
            for name in systolic_fields:
                if getattr(self, name) is None:
                    problems.append((name, "required when kind is systolic"))
        else:
            for name in systolic_fields:
                if getattr(self, name) is not None:
                    problems.append(
                        (name, f"only allowed when kind is systolic (kind is {self.kind.value})")
                    )
        return problems

    @property
    def n_systolic_macs(self) -> int:
        """MACs of the systolic array (0 for a mac_lines engine)."""
        if self.kind is DenseEngineKind.SYSTOLIC:
            assert self.rows is not None and self.cols is not None
            return self.rows * self.cols
        return 0


@dataclass(frozen=True)
class SparseEngine(Validated):
    """The sparser engine: SDDMM/SpMM from the index stream."""

    enabled: bool = field(
        metadata=bool_field("false = a dense-only design (attention computed densely, masked)")
    )
    row_policy: RowPolicy = field(
        metadata=enum_field(RowPolicy, "how whole rows are assigned to MAC lines "
                                       "(dataflow: rows)")
    )
    dataflow: SparseDataflow = field(
        default=SparseDataflow.K_STATIONARY,
        metadata=enum_field(SparseDataflow, "k_stationary (ViTCoD's: Q K^T by key columns, "
                                            "S V rows split across lines) or rows"))


@dataclass(frozen=True)
class Engines(Validated):
    dense: DenseEngine = field(metadata=doc_field("the dense engine"))
    sparse: SparseEngine = field(metadata=doc_field("the sparser engine"))


@dataclass(frozen=True)
class Allocation(Validated):
    """How the MAC lines are split between the engines (used when both share the lines)."""

    policy: AllocationPolicy = field(
        metadata=enum_field(AllocationPolicy, "static, proportional or search")
    )
    static_dense_fraction: float = field(
        metadata=fraction_field("share of the MAC lines given to the dense engine (static policy)")
    )


@dataclass(frozen=True)
class Codec(Validated):
    """ViTCoD's Q/K auto-encoder: h heads -> ceil(compression_ratio * h) before DRAM."""

    enabled: bool = field(
        metadata=bool_field("whether Q and K are compressed before they go to DRAM")
    )
    compression_ratio: float = field(
        metadata=fraction_field("compressed heads = ceil(ratio * h)", lo_open=True)
    )
    encoder_lines: int = field(
        metadata=pos_int_field("MAC lines (of mac_array.macs_per_line MACs) of the encoder")
    )
    decoder_lines: int = field(
        metadata=pos_int_field("MAC lines (of mac_array.macs_per_line MACs) of the decoder")
    )
    decoder_placement: DecoderPlacement = field(
        default=DecoderPlacement.DEDICATED,
        metadata=enum_field(DecoderPlacement, "dedicated (own lines, overlaps Q K^T) or array "
                                              "(the MAC array's lines, before Q K^T)"))

    heads: CodecHeads = field(
        default=CodecHeads.RATIO,
        metadata=enum_field(CodecHeads, "ratio (ceil(compression_ratio x h)) or trained (the "
                                        "model's own auto-encoder, as ViTCoD trained it)"))

    def compressed_heads(self, n_heads: int, trained: int | None = None) -> int:
        """Heads after compression: ``ceil(ratio * n_heads)`` (3 -> 2, 12 -> 6 at 0.5), or
        ``trained`` (the block's auto-encoder) when ``heads`` is ``trained`` and it is known."""
        if not self.enabled:
            return n_heads
        if self.heads is CodecHeads.TRAINED and trained is not None:
            return trained
        # In floating point (2/3) * 3 = 2.0000000000000004; the epsilon keeps that at 2.
        return max(1, math.ceil(self.compression_ratio * n_heads - 1e-9))


@dataclass(frozen=True)
class Softmax(Validated):
    ops_per_cycle: int = field(
        metadata=pos_int_field("softmax elements (exp + accumulate + divide) per cycle")
    )


@dataclass(frozen=True)
class Vector(Validated):
    ops_per_cycle: int = field(
        metadata=pos_int_field("element ops (layer norm, GELU, residual add) per cycle")
    )


@dataclass(frozen=True)
class Buffer(Validated):
    """One on-chip SRAM buffer."""

    size_kib: float = field(metadata=pos_float_field("capacity in KiB (1024 bytes)",
                                                           hi=MAX_SIZE_KIB))
    banks: int = field(default=1, metadata=pos_int_field(
        "equal banks; an access touches one (its energy is a size_kib / banks array's)",
        hi=1024))
    physical: bool = field(default=True, metadata=bool_field(
        "false: another buffer's SRAM under this name (no leakage of its own)"))

    @property
    def size_bytes(self) -> int:
        return int(self.size_kib * 1024)


class _ByBufferName:
    """Index a per-buffer dataclass by buffer name (``x["q"]`` or ``x[BufferName.Q]``)."""

    def __getitem__(self, name: str | BufferName) -> Any:
        key = name.value if isinstance(name, BufferName) else name
        if key not in BUFFER_NAMES:
            raise KeyError(f"unknown buffer {name!r}; buffers: {', '.join(BUFFER_NAMES)}")
        return getattr(self, key)

    def items(self) -> tuple[tuple[str, Any], ...]:
        return tuple((name, getattr(self, name)) for name in BUFFER_NAMES)


@dataclass(frozen=True)
class Buffers(_ByBufferName, Validated):
    """Every on-chip buffer by name (the names are :class:`BufferName`)."""

    q: Buffer = field(metadata=doc_field("query buffer"))
    k: Buffer = field(metadata=doc_field("key buffer"))
    v: Buffer = field(metadata=doc_field("value buffer"))
    index: Buffer = field(metadata=doc_field("sparse index buffer"))
    output: Buffer = field(metadata=doc_field("output buffer"))
    weight: Buffer = field(metadata=doc_field("weight buffer (linear layers)"))
    activation: Buffer = field(metadata=doc_field("activation buffer (linear layers)"))


@dataclass(frozen=True)
class BufferEnergy(_ByBufferName, Validated):
    """One energy per byte (pJ) for each buffer: an entry for every buffer, no more."""

    q: float = field(metadata=nonneg_float_field("pJ per byte"))
    k: float = field(metadata=nonneg_float_field("pJ per byte"))
    v: float = field(metadata=nonneg_float_field("pJ per byte"))
    index: float = field(metadata=nonneg_float_field("pJ per byte"))
    output: float = field(metadata=nonneg_float_field("pJ per byte"))
    weight: float = field(metadata=nonneg_float_field("pJ per byte"))
    activation: float = field(metadata=nonneg_float_field("pJ per byte"))


@dataclass(frozen=True)
class Dram(Validated):
    """The off-chip memory link."""

    bandwidth_gb_per_s: float = field(
        # At least 1 MB/s: below it a ViT's bytes take more cycles than float64 counts
        # exactly (1e-300 GB/s once passed and gave infinite stalls).
        metadata=field_meta(FieldCheck("float", lo=MIN_BANDWIDTH_GB_PER_S, hi=MAX_QUANTITY),
                            "peak bandwidth in 10^9 bytes per second")
    )
    kind: DramKind = field(metadata=enum_field(DramKind, "ddr4, lpddr4 or hbm2"))


@dataclass(frozen=True)
class Schedule(Validated):
    """Hardware-side scheduling switches (ablations)."""

    double_buffering: bool = field(
        metadata=bool_field("overlap the loads of tile i+1 with the compute of tile i")
    )
    polarization: bool = field(
        metadata=bool_field("false = every kept score goes to the sparser engine")
    )
    max_heads_in_parallel: int = field(
        default=1,
        metadata=pos_int_field("heads of a block whose attention shares the MAC array at once "
                          "(fewer when the Q and output buffers cannot hold a row of each)"),
    )


@dataclass(frozen=True)
class Energy(Validated):
    """Energy per action (pJ) at ``technology_nm``, and leakage power (mW)."""

    technology_nm: float = field(
        metadata=pos_float_field("technology node the energies are for, nm")
    )
    mac_pj: float = field(
        metadata=nonneg_float_field("one data_bits x data_bits MAC with its accumulate")
    )
    codec_mac_pj: float = field(
        metadata=nonneg_float_field("one MAC of the Q/K encoder or decoder")
    )
    softmax_op_pj: float = field(
        metadata=nonneg_float_field("one softmax element (exp + accumulate + divide)")
    )
    vector_op_pj: float = field(
        metadata=nonneg_float_field("one element op of layer norm, GELU, residual add")
    )
    dram_pj_per_byte: float = field(
        metadata=nonneg_float_field("DRAM energy per byte read or written")
    )
    leakage_mw: float = field(metadata=nonneg_float_field(
        "static power of the whole chip, mW (with sram_model cacti_28nm: of the logic; the "
        "SRAM's comes from the model)"))
    sram_model: SramModel = field(default=SramModel.TABLE, metadata=enum_field(
        SramModel, "table (the per-buffer energies below) or cacti_28nm (energy and leakage "
                   "from each buffer's size, CACTI 7 at 28 nm)"))
    sram_read_pj_per_byte: BufferEnergy | None = field(
        default=None, metadata=doc_field("SRAM read energy per byte, per buffer (table model)")
    )
    sram_write_pj_per_byte: BufferEnergy | None = field(
        default=None, metadata=doc_field("SRAM write energy per byte, per buffer (table model)")
    )

    def _cross_problems(self) -> list[tuple[str, str]]:
        tables = ("sram_read_pj_per_byte", "sram_write_pj_per_byte")
        if self.sram_model is SramModel.TABLE:
            return [(t, "required when sram_model is table") for t in tables
                    if getattr(self, t) is None]
        return [(t, f"must be absent when sram_model is {self.sram_model.value} (the model "
                    f"prices every buffer)") for t in tables if getattr(self, t) is not None]


@dataclass(frozen=True)
class HardwareConfig(Validated):
    """One accelerator design point. Build it with :mod:`vitsim.hw_configs.loader`."""

    name: str = field(metadata=str_field("design name (a preset's name is its file name)"))
    clock_mhz: float = field(metadata=pos_float_field("core clock, MHz", hi=MAX_CLOCK_MHZ))
    data_bits: int = field(
        metadata=pos_int_field("operand precision of the MACs and of on-chip data, bits",
                               hi=MAX_BITS)
    )
    mac_array: MacArray = field(metadata=doc_field("the shared MAC lines"))
    engines: Engines = field(metadata=doc_field("the dense and sparse engines"))
    allocation: Allocation = field(
        metadata=doc_field("how the MAC lines are split between the engines")
    )
    codec: Codec = field(metadata=doc_field("the Q/K auto-encoder"))
    softmax: Softmax = field(metadata=doc_field("the softmax units"))
    vector: Vector = field(metadata=doc_field("the element-wise vector unit"))
    buffers: Buffers = field(metadata=doc_field("on-chip buffers"))
    dram: Dram = field(metadata=doc_field("off-chip memory"))
    schedule: Schedule = field(metadata=doc_field("scheduling switches"))
    energy: Energy = field(metadata=doc_field("per-action energies"))
    reference_model: ReferenceModel | None = field(
        default=None,
        metadata=enum_field(ReferenceModel, "reproduce another simulator's cost model "
                                            "(vitcod_released) instead of vitsim's",
                            optional=True))

    # -- time -----------------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def cycle_ns(self) -> float:
        return 1e3 / self.clock_mhz

    # -- data -----------------------------------------------------------------------
    @property
    def bytes_per_element(self) -> float:
        """Bytes of one on-chip operand (``data_bits / 8``)."""
        return self.data_bits / 8

    @property
    def dram_bytes_per_second(self) -> float:
        """Peak DRAM bandwidth in bytes per second (GB = 10^9 bytes)."""
        return self.dram.bandwidth_gb_per_s * 1e9

    @property
    def dram_bytes_per_cycle(self) -> float:
        """Peak DRAM bandwidth in bytes per core clock cycle."""
        return self.dram_bytes_per_second / self.clock_hz

    @property
    def buffer_bytes(self) -> dict[str, int]:
        """Capacity in bytes of every buffer, by name."""
        return {name: buf.size_bytes for name, buf in self.buffers.items()}

    # -- compute --------------------------------------------------------------------
    @property
    def mac_array_macs(self) -> int:
        """MACs of the shared MAC lines (``n_lines * macs_per_line``)."""
        return self.mac_array.n_macs

    @property
    def dense_macs(self) -> int:
        """The most MACs dense work can use: the systolic array, or all the MAC lines."""
        if self.engines.dense.kind is DenseEngineKind.SYSTOLIC:
            return self.engines.dense.n_systolic_macs
        return self.mac_array_macs

    @property
    def lines_shared(self) -> bool:
        """Whether the dense and sparse engines split the MAC lines (allocation applies)."""
        return self.engines.dense.kind is DenseEngineKind.MAC_LINES and self.engines.sparse.enabled

    @property
    def total_macs(self) -> int:
        """Compute MACs of the design, codec excluded (ViTCoD: 512)."""
        if self.engines.dense.kind is DenseEngineKind.SYSTOLIC:
            extra = self.mac_array_macs if self.engines.sparse.enabled else 0
            return self.engines.dense.n_systolic_macs + extra
        return self.mac_array_macs

    @property
    def codec_macs(self) -> int:
        """MACs of the encoder plus the decoder (0 when the codec is disabled)."""
        if not self.codec.enabled:
            return 0
        decoder = self.codec.decoder_lines \
            if self.codec.decoder_placement is DecoderPlacement.DEDICATED else 0
        lines = self.codec.encoder_lines + decoder
        return lines * self.mac_array.macs_per_line

    @property
    def peak_macs_per_second(self) -> float:
        return self.total_macs * self.clock_hz

    # -- energy ---------------------------------------------------------------------
    @property
    def leakage_pj_per_cycle(self) -> float:
        """Leakage energy of one clock cycle, pJ (``leakage_mw`` at ``clock_mhz``, plus the
        physical buffers' SRAM leakage under a size-dependent ``sram_model``)."""
        return self.leakage_mw * 1e9 / self.clock_hz

    @property
    def sram_leakage_mw(self) -> float:
        """Leakage of the physical buffers by the SRAM model (0 for the table model)."""
        return self.sram_leakage_mw_of(BUFFER_NAMES)

    def sram_leakage_mw_of(self, names: typing.Iterable[str]) -> float:
        """Leakage of the physical buffers among ``names`` by the SRAM model (0 for the
        table model; an alias, ``physical: false``, leaks nothing of its own)."""
        if self.energy.sram_model is SramModel.TABLE:
            return 0.0
        bufs = [self.buffers[n] for n in names]
        return math.fsum(b.banks * cacti_28nm(b.size_kib / b.banks).leakage_mw
                         for b in bufs if b.physical)

    @property
    def leakage_mw(self) -> float:
        """Static power of the chip: the logic's ``energy.leakage_mw`` and the SRAM's."""
        return self.energy.leakage_mw + self.sram_leakage_mw

    def sram_pj_per_byte(self, buffer: str, action: str) -> float:
        """Energy of one byte read (``action = "read"``) or written in ``buffer``, pJ."""
        read, write = self._sram_read_write_pj(self.buffers[buffer], buffer)
        return read if action == "read" else write

    def sram_prices_pj_per_byte(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """:meth:`sram_pj_per_byte` of every buffer in ``BUFFER_NAMES`` order: (reads,
        writes)."""
        b = self.buffers
        prices = [self._sram_read_write_pj(getattr(b, name), name) for name in BUFFER_NAMES]
        return tuple(r for r, _ in prices), tuple(w for _, w in prices)

    def _sram_read_write_pj(self, buf: Buffer, name: str) -> tuple[float, float]:
        """(read, write) pJ per byte of buffer ``name`` (``buf``) by the SRAM model."""
        e = self.energy
        if e.sram_model is SramModel.TABLE:
            assert e.sram_read_pj_per_byte is not None and e.sram_write_pj_per_byte is not None
            return float(e.sram_read_pj_per_byte[name]), float(e.sram_write_pj_per_byte[name])
        cost = cacti_28nm(buf.size_kib / buf.banks)
        return cost.read_pj_per_byte, cost.write_pj_per_byte


def section_fields(cls: type) -> tuple[str, ...]:
    """The YAML keys of a section (its dataclass field names), in order."""
    return tuple(f.name for f in fields(cls))


def section_type(cls: type, key: str) -> type | None:
    """The dataclass of sub-section ``key`` of ``cls``, or None when ``key`` is a value."""
    return _section_types(cls).get(key)


def required_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.default is dataclasses.MISSING)


def optional_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.default is not dataclasses.MISSING)
