"""ViTCoD's released simulator, reproduced exactly: the ``vitcod-released`` reference mode.

The released simulator (GATECH-EIC/ViTCoD, ``Hardware/Simulator/ViTCoD.py`` and
``ViT_FFN.py`` at commit b2f7fb5, "add config to simulator", the version whose shipped log
gives 9,492 cycles) is re-implemented here from its formulas, so that vitsim can set its
numbers beside its own and walk the gap factor by factor. Line numbers cite that commit.
``benchmarks/released/run_released.sh`` runs the released code itself on any mask.

What it computes (per layer, ``N`` tokens, ``D = head_dim``, ``H`` heads, ``h' = ceil(H r)``):

- **Attention** (ViTCoD.py:67-228): only head 0 of every layer is simulated (its mask stands
  for all heads, assumed to run in parallel). Each head gets all ``64`` lines with ``64 / H``
  MACs each (ViTCoD.py divides ``PE_width``, not ``PE_height``, by the head count), so the
  attention runs on ``64 x 64 = 4,096`` MACs while ``ViT_FFN.py`` times the linear layers on
  512. The lines are split ``int(64 g N / (S + g N))`` dense (``g`` global tokens, ``S`` kept
  sparse scores); SDDMM costs ``max(g ceil(N / L_d), ceil(S / L_s)) x ceil(D / (64 / H))``,
  SpMM ``max(ceil(N D g / int(L_d 64 / H)), ceil(S D / int(L_s 64 / H)))``. The decoder
  pre-processes every Q and K row at ``ceil(h' D / int(64 x 64 / H))`` cycles. Loads are
  charged per row, each transfer rounded up to whole cycles at 76.8 GiB/s (``76.8 x 1024^3``
  bytes/s) and 500 MHz: compressed Q and K rows (``h' D`` bytes), decoder weights, V rows
  (``H D`` bytes); Q is loaded once (its reload rule is dead code unless ``g = 0``).
  Softmax, index loads and output stores cost nothing. The total is
  ``max(sum of loads, sum of pre-processing + compute)`` over the whole model.
- **Linear layers** (ViT_FFN.py:102-174): head 0's Q, K, V projections per token at
  ``(E D) // int(512 / H)`` cycles (floor), the encoder (pre-processing floors to 0), the
  output projection ``N E D // int(512 / H)``; loads per weight column; total
  ``max(compute + pre-processing, loads)``.
- **FFN** (ViT_FFN.py:178-197): ``N E M // 512`` per fully connected layer; weights are
  loaded once per full block of 512 tokens, so never for ``N < 512``.

Inconsistencies of the released code kept here on purpose (documented in the README):
4,096 MACs for attention against 512 for the linear layers; heads 1.. ignored; one max over
the whole network instead of per phase; FFN weight loads that round to zero; floor division
in the linear layers against ceilings in attention. The stem, the classifier, layer norms,
GELU and residual adds are not timed by the released code and cost nothing here. The
released code has no energy model: vitsim prices the actions it implies (MACs of all heads,
the bytes of its loads) with the preset's energy table.

The mode reads everything it needs from a :class:`~vitsim.workloads.trace.WorkloadTrace`:
per head the global-token count (ViTCoD's threshold, as ``reorder.py``) and the sparse
region's kept scores. Blocks whose queries and keys differ in number (LeViT's subsampling
attention) use ``N`` = queries for query rows and keys for key rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.simulator.counts import StageTableBuilder
from vitsim.simulator.results import SimulationResult
from vitsim.workloads.model_spec import BlockSpec
from vitsim.workloads.trace import WorkloadTrace

# SRAM.py: bandwidth = 76.8 * 1024**3 bytes/s (the "GB/s" of the paper read as GiB/s),
# clock 500 MHz; every load and store call passes bits=8.
RELEASED_BANDWIDTH_BYTES_PER_S = 76.8 * 1024**3
RELEASED_CLOCK_HZ = 500e6
# ViTCoD.py / ViT_FFN.py argparse defaults: 64 MAC lines (PE_width) of 8 MACs (PE_height).
PE_WIDTH = 64
PE_HEIGHT = 8


def load_cycles(n_bytes: float, share: float = 1.0) -> int:
    """Cycles of one DRAM transfer (SRAM.py:23-107): ``n_bytes`` at ``share`` of the
    bandwidth, rounded up to a whole cycle on its own."""
    return math.ceil(n_bytes / (RELEASED_BANDWIDTH_BYTES_PER_S * share) * RELEASED_CLOCK_HZ)


@dataclass(frozen=True)
class ReleasedHead:
    """One simulated head's cycles as ViTCoD.py computes them."""

    loads: float
    pre: float
    sddmm: int
    spmm: int
    load_bytes: float


def _ceil_div(num: float, den: int, what: str) -> int:
    if den == 0:
        if num == 0:
            return 0
        # The released code raises ZeroDivisionError here (g = 0, g = N, or an engine whose
        # line share rounds to 0); vitsim says which.
        raise VitsimError(f"the released simulator divides by zero: {what} gets no MAC line",
                          field="reference_model")
    return math.ceil(num / den)


@dataclass(frozen=True)
class ReleasedReading:
    """How the released attention formulas are read (the defaults are the release's).

    The decomposition walks from the release to vitsim's default one switch at a time:

    - ``array_cols``: the MAC columns a head's share is cut from. The release divides
      ``PE_width = 64`` by the head count, so each head has 64 lines x ``64 / H`` MACs and the
      heads together 4,096; 8 (``PE_height``) is the paper's 512-MAC array.
    - ``heads_parallel``: each head gets ``array_cols / H`` MACs a line, all heads at once (the
      release); False: a head has all ``array_cols`` a line and the heads run one after
      another (their cycles add up).
    - ``every_head``: every head with its own mask (False: head 0's stands for all of them).
    - ``row_rounding``: each row's load and decoder pre-processing rounded up to whole cycles
      on its own, with the row loads sized for all heads (the release); False: a head's own
      bytes at the bandwidth and its decoder MACs at the array's rate, unrounded.
    """

    array_cols: int = PE_WIDTH
    heads_parallel: bool = True
    every_head: bool = False
    row_rounding: bool = True


RELEASE = ReleasedReading()


def released_head(n_q: int, n_k: int, g: int, s: int, *, n_heads: int, head_dim: int,
                  compressed_heads: int, reading: ReleasedReading = RELEASE) -> ReleasedHead:
    """ViTCoD.py:76-228 for one head with ``g`` global tokens and ``s`` sparse kept scores
    (under ``reading``; the release's by default)."""
    h, d = n_heads, head_dim
    share = h if reading.heads_parallel else 1
    head_macs = int(PE_WIDTH * reading.array_cols / share)
    qk_row = compressed_heads * d  # a compressed Q or K row of all heads, bytes
    c_qk: float
    c_dec: float
    c_v: float
    pre_row: float
    if reading.row_rounding:
        c_qk = load_cycles(qk_row)
        c_dec = load_cycles(compressed_heads, 1.0 / h)  # decoder weights (ViTCoD.py:100)
        c_v = load_cycles(h * d)  # an uncompressed V row of all heads
        pre_row = math.ceil(qk_row / head_macs)
    else:  # one head's bytes, unrounded
        per_cycle = RELEASED_BANDWIDTH_BYTES_PER_S / RELEASED_CLOCK_HZ
        c_qk = qk_row / h / per_cycle
        c_dec = compressed_heads / per_cycle
        c_v = d / per_cycle
        pre_row = qk_row / head_macs
    loads = 0.0
    pre = 0.0
    load_bytes = 0.0
    if g > 0:  # ViTCoD.py:95-115: global K rows, then every Q row once
        loads += g * c_qk + c_dec + n_q * c_qk + c_dec
        pre += g * pre_row + n_q * pre_row
        load_bytes += (g + n_q) * qk_row + 2 * compressed_heads
    rest = n_k - g  # ViTCoD.py:128-134: the other K rows
    loads += rest * c_qk + (c_dec if rest > 0 else 0)
    pre += rest * pre_row
    load_bytes += rest * qk_row + (compressed_heads if rest > 0 else 0)
    if g == 0:  # ViTCoD.py:138-148: Q again, scaled by the mean kept per sparse column
        ratio = s / rest
        if reading.row_rounding:
            for i in range(n_q):  # sequential float sums, as released
                loads += c_qk * ratio
                if i == 0:
                    loads += c_dec
                for _ in range(int(pre_row)):
                    pre += ratio
        else:
            loads += n_q * c_qk * ratio + c_dec
            pre += n_q * pre_row * ratio
        load_bytes += n_q * qk_row * ratio
    dense_lines = int(PE_WIDTH * (g * n_q / (s + g * n_q))) if s + g * n_q else 0
    sparse_lines = PE_WIDTH - dense_lines
    cols = reading.array_cols
    feat_tiles = math.ceil(d / (cols / share))
    dense_sddmm = g * _ceil_div(n_q, dense_lines, "the dense engine") * feat_tiles if g else 0
    sparse_sddmm = _ceil_div(s, sparse_lines, "the sparse engine") * feat_tiles
    # int(lines * 64 / H), in the released order of operations (ViTCoD.py:190, 225)
    dense_spmm = _ceil_div(n_q * d * g, int(dense_lines * cols / share), "the dense engine")
    sparse_spmm = _ceil_div(s * d, int(sparse_lines * cols / share), "the sparse engine")
    loads += g * c_v + rest * c_v  # V rows (ViTCoD.py:185, 218)
    load_bytes += n_k * h * d
    if not reading.row_rounding:  # one head's own rows
        load_bytes = load_bytes / h
    return ReleasedHead(loads=loads, pre=pre, sddmm=max(dense_sddmm, sparse_sddmm),
                        spmm=max(dense_spmm, sparse_spmm), load_bytes=load_bytes)


@dataclass(frozen=True)
class ReleasedLinear:
    """One block's linear layers as ViT_FFN.py times them."""

    qkv: int
    proj: int
    encode_pre: int
    loads: int
    load_bytes: float
    fc1: int
    fc2: int
    ffn_loads: int
    ffn_load_bytes: float


def released_linear(block: BlockSpec, compressed_heads: int) -> ReleasedLinear:
    """ViT_FFN.py:102-197 for one block (its ``N``, ``E``, ``H``, ``D``, ``M``)."""
    n, e, h, d, m = (block.n_k_tokens, block.in_dim, block.n_heads, block.qk_dim,
                     block.mlp_hidden)
    head_macs = int(PE_WIDTH * PE_HEIGHT / h)  # int(512 / H): head 0's share of the array
    w_col = load_cycles(h * e)  # a weight column of all heads
    qkv = 3 * n * ((e * d) // head_macs)
    hr = compressed_heads
    enc_w = load_cycles(h, 1.0 / hr)
    st_qk = load_cycles(d, 1.0 / hr)
    st_v = load_cycles(d, 1.0 / h)
    encode_pre = 2 * n * math.ceil((h * d) // int(PE_WIDTH * PE_HEIGHT / hr))
    proj = (n * e * d) // head_macs
    proj_loads = (n // head_macs) * e * load_cycles(d, 1.0 / h)
    loads = 3 * d * w_col + 2 * (enc_w + n * st_qk) + n * st_v + proj_loads
    load_bytes = (3 * d * h * e + 2 * (h + n * d) + n * d + (n // head_macs) * e * d)
    macs = PE_WIDTH * PE_HEIGHT
    fc1 = (n * e * m) // macs
    fc2 = (n * e * m) // macs  # ViT_FFN.py:187 uses the same product for both
    blocks = n // macs  # weights loaded per full block of 512 tokens: 0 for N < 512
    ffn_loads = blocks * (m * load_cycles(e) + e * load_cycles(m))
    return ReleasedLinear(qkv=qkv, proj=proj, encode_pre=encode_pre, loads=loads,
                          load_bytes=load_bytes, fc1=fc1, fc2=fc2, ffn_loads=ffn_loads,
                          ffn_load_bytes=float(blocks * 2 * m * e))


@dataclass(frozen=True)
class ReleasedTotals:
    """The released simulator's printed totals for one trace."""

    attention_loads: float
    attention_pre: float
    attention_compute: int
    attention: float  # max(loads, pre + compute): ViTCoD.py's "Total cycles"
    linear_loads: int
    linear_pre: int  # the encoder's pre-processing
    linear_compute: int
    linear: int  # ViT_FFN.py's "total linear cycles"
    ffn_loads: int
    ffn_compute: int
    ffn: int  # ViT_FFN.py's "total ffn cycles"

    @property
    def total(self) -> float:
        """End to end as the README adds them: attention + linear + FFN."""
        return self.attention + self.linear + self.ffn


@dataclass(frozen=True)
class _Block:
    """One block as the released simulator sees it: head 0's attention, the linear layers."""

    spec: BlockSpec
    head: ReleasedHead
    linear: ReleasedLinear
    compressed_heads: int
    scores: int  # head 0's kept scores: g n_q dense + S sparse


def _per_block(trace: WorkloadTrace, hw: HardwareConfig) -> list[_Block]:
    at = trace.attention
    sparse = at.sparse_nnz()
    out = []
    for i, block in enumerate(trace.spec.blocks):
        hc = hw.codec.compressed_heads(block.n_heads, block.ae_heads)
        head0 = np.flatnonzero((at.head_block == i) & (at.head_index == 0))[0]
        g, s = int(at.n_global[head0]), int(sparse[head0])
        head = released_head(block.n_q_tokens, block.n_k_tokens, g, s, n_heads=block.n_heads,
                             head_dim=block.qk_dim, compressed_heads=hc)
        out.append(_Block(spec=block, head=head, linear=released_linear(block, hc),
                          compressed_heads=hc, scores=g * block.n_q_tokens + s))
    return out


def _totals(blocks: list[_Block]) -> ReleasedTotals:
    a_loads = sum(x.head.loads for x in blocks)
    a_pre = sum(x.head.pre for x in blocks)
    a_compute = sum(x.head.sddmm + x.head.spmm for x in blocks)
    l_loads = sum(x.linear.loads for x in blocks)
    l_compute = sum(x.linear.qkv + x.linear.proj for x in blocks)
    l_pre = sum(x.linear.encode_pre for x in blocks)
    f_compute = sum(x.linear.fc1 + x.linear.fc2 for x in blocks)
    f_loads = sum(x.linear.ffn_loads for x in blocks)
    return ReleasedTotals(
        attention_loads=a_loads, attention_pre=a_pre, attention_compute=a_compute,
        attention=max(a_loads, a_pre + a_compute), linear_loads=l_loads, linear_pre=l_pre,
        linear_compute=l_compute, linear=max(l_compute + l_pre, l_loads), ffn_loads=f_loads,
        ffn_compute=f_compute, ffn=max(f_compute, f_loads))


def released_totals(trace: WorkloadTrace, hw: HardwareConfig) -> ReleasedTotals:
    """The released simulator's totals for ``trace`` (codec ratio from ``hw``)."""
    return _totals(_per_block(trace, hw))


@dataclass(frozen=True)
class ReleasedAttention:
    """Attention cycles of the released formulas under one reading, whole model."""

    loads: float
    pre: float
    compute: float

    @property
    def total(self) -> float:
        """``max(sum of loads, sum of pre-processing + compute)``, as the release."""
        return max(self.loads, self.pre + self.compute)


def released_attention(trace: WorkloadTrace, hw: HardwareConfig,
                       reading: ReleasedReading = RELEASE) -> ReleasedAttention:
    """The released attention formulas on ``trace`` under ``reading``.

    Heads one after another (``heads_parallel=False``) add their cycles; with head 0's mask
    standing for all heads, that is ``H`` times head 0's. With the heads in parallel only
    one head's time counts (the release: head 0's; with every head's own mask, the slowest
    head of the layer sets each phase, which the release's single sums cannot express, so
    that combination is refused).
    """
    if reading.heads_parallel and reading.every_head:
        raise VitsimError("the released formulas time heads in parallel from head 0 only",
                          field="reading")
    at = trace.attention
    sparse = at.sparse_nnz()
    loads = pre = compute = 0.0
    for i, block in enumerate(trace.spec.blocks):
        hc = hw.codec.compressed_heads(block.n_heads, block.ae_heads)
        heads = np.flatnonzero(at.head_block == i)
        if not reading.every_head:
            heads = heads[at.head_index[heads] == 0]
        times = 1 if reading.heads_parallel or reading.every_head else block.n_heads
        for head in heads.tolist():
            r = released_head(block.n_q_tokens, block.n_k_tokens, int(at.n_global[head]),
                              int(sparse[head]), n_heads=block.n_heads,
                              head_dim=block.qk_dim, compressed_heads=hc, reading=reading)
            loads += times * r.loads
            pre += times * r.pre
            compute += times * (r.sddmm + r.spmm)
    return ReleasedAttention(loads=loads, pre=pre, compute=compute)


def simulate_released(trace: WorkloadTrace, hw: HardwareConfig) -> SimulationResult:
    """A stage table whose cycles add up to the released simulator's totals.

    Per block: ``decode`` (the decoder's pre-processing), ``qk`` (SDDMM), ``sv`` (SpMM) on
    head 0, ``qkv``, ``encode``, ``proj``, ``fc1`` and ``fc2``; the released model's single
    ``max(loads, compute)`` per phase becomes stall cycles on that phase's last row, so that
    every total is the released one. MACs count every head's kept scores (as if each head
    had head 0's mask, as the released model assumes); DRAM bytes are its loads.
    """
    if hw.clock_mhz != RELEASED_CLOCK_HZ / 1e6:
        raise VitsimError("the released simulator's formulas are fixed at 500 MHz",
                          field="clock_mhz")
    b = StageTableBuilder()
    blocks = _per_block(trace, hw)
    totals = _totals(blocks)
    # The part of each phase's max(loads, compute) that compute does not cover, charged to
    # the phase's last row of the model.
    stalls = {
        "sv": max(0.0, totals.attention - totals.attention_pre - totals.attention_compute),
        "proj": max(0, totals.linear - totals.linear_compute - totals.linear_pre),
        "fc2": max(0, totals.ffn - totals.ffn_compute),
    }
    for i, x in enumerate(blocks):
        block, head, lin = x.spec, x.head, x.linear
        h, d, dv = block.n_heads, block.qk_dim, block.v_dim
        stall = stalls if i == len(blocks) - 1 else dict.fromkeys(stalls, 0)
        qkv_macs = 3 * block.n_k_tokens * block.in_dim * d * h
        b.add(layer=i, head=-1, stage="qkv", engine="dense", macs=qkv_macs,
              dense_macs=qkv_macs, dram_read_bytes=round(lin.load_bytes),
              compute_cycles=lin.qkv, total_cycles=lin.qkv)
        qk_tokens = block.n_q_tokens + block.n_k_tokens
        b.add(layer=i, head=-1, stage="encode", engine="codec",
              codec_macs=qk_tokens * d * h * x.compressed_heads,
              compute_cycles=lin.encode_pre, total_cycles=lin.encode_pre)
        b.add(layer=i, head=0, stage="decode", engine="codec",
              codec_macs=qk_tokens * d * x.compressed_heads * h,
              compute_cycles=head.pre, total_cycles=head.pre)
        b.add(layer=i, head=0, stage="qk", engine="attention", macs=x.scores * d * h,
              sparse_macs=x.scores * d * h, dram_read_bytes=round(head.load_bytes),
              compute_cycles=head.sddmm, total_cycles=head.sddmm)
        b.add(layer=i, head=0, stage="sv", engine="attention", macs=x.scores * dv * h,
              sparse_macs=x.scores * dv * h, compute_cycles=head.spmm,
              stall_cycles=stall["sv"], total_cycles=head.spmm + stall["sv"])
        proj_macs = block.n_q_tokens * h * dv * block.out_dim
        b.add(layer=i, head=-1, stage="proj", engine="dense", macs=proj_macs,
              dense_macs=proj_macs, compute_cycles=lin.proj, stall_cycles=stall["proj"],
              total_cycles=lin.proj + stall["proj"])
        fc_macs = block.n_q_tokens * block.out_dim * block.mlp_hidden
        b.add(layer=i, head=-1, stage="fc1", engine="dense", macs=fc_macs, dense_macs=fc_macs,
              dram_read_bytes=round(lin.ffn_load_bytes), compute_cycles=lin.fc1,
              total_cycles=lin.fc1)
        b.add(layer=i, head=-1, stage="fc2", engine="dense", macs=fc_macs, dense_macs=fc_macs,
              compute_cycles=lin.fc2, stall_cycles=stall["fc2"],
              total_cycles=lin.fc2 + stall["fc2"])
    return SimulationResult.from_table(b.build(), hw, trace)
