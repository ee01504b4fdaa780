"""Clean-room re-implementation of the cycle model of ViTCoD's released simulator.

Target: GATECH-EIC/ViTCoD, Hardware/Simulator at commit
b2f7fb547adc6093f2500cdc29cc95f966ec7419 ("add config to simulator", 2023-06-27):
ViTCoD.py (attention), ViT_FFN.py (linear layers, encoder, FFN), SRAM.py (loads),
reorder.py (global tokens).  Line numbers below ("ViTCoD.py:172") refer to that
commit.  No code is copied; every formula is re-derived and written in closed form
(with the released loops' float arithmetic kept where it can matter, so that the
numbers agree bit for bit).  See NOTES.md for the derivations.

Dependencies: numpy only.

Conventions
-----------
* ``mask_kept`` is bool ``[layers, heads, N, N]``, True = attention score KEPT
  (the released ``info_0.95.npy`` stores True = pruned; pass ``~mask``).
  Rows are queries, columns are keys.
* The released simulator works on the *reordered* mask made by reorder.py, but
  its cycle formulas depend on that mask only through two numbers per head:
  ``g`` = number of global (dense) key columns and ``S`` = number of kept scores
  outside those columns.  Both are permutation-invariant and are computed here
  directly from ``mask_kept`` (see :func:`global_token_counts`, :func:`sparse_nnz`).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

# --------------------------------------------------------------------------
# Constants of the released simulator
# --------------------------------------------------------------------------
# SRAM.py:19 -- comment says "76.8GB/s"; the value is 76.8 * 2**30 * 8 *bits*/s,
# i.e. 76.8 GiB/s expressed in bits per second (= 82.46e9 B/s).  Written in the
# same multiplication order as the release so the float is identical.
HBM_BANDWIDTH_BITS_PER_S = 76.8 * 1024 * 1024 * 1024 * 8
# SRAM.py:20 -- 500 MHz.  One cycle moves 76.8*2**33/5e8 = 1319.4 bits (164.9 B).
CLOCK_HZ = 500 * 1e6
# SRAM.py:12-16 -- on-chip buffer sizes in bits (only used for an overflow check
# that, in the release, ends in UnboundLocalError; never reached for DeiT-Tiny).
SRAM_Q_BITS = 53 * 1024 * 8        # preload_Q / preload_decoder / preload_encoder
SRAM_K_BITS = 53 * 1024 * 8        # preload_K
SRAM_V_BITS = 53 * 1024 * 8        # preload_V
SRAM_INDEX_BITS = 20 * 1024 * 8    # preload_index (unused by the simulators)
SRAM_OUTPUT_BITS = 108 * 1024 * 8  # store_out and preload_weight

# ViTCoD.py:14-19 / ViT_FFN.py:15-21 -- command-line defaults.
FEATURE_DIM = 64          # --feature_dim: per-head Q/K/V width D
RATIO = 2 / 3             # --ratio: encoder/decoder compression of the head dim
PE_WIDTH = 64             # --PE_width: number of MAC lines
PE_HEIGHT = 8             # --PE_height: MACs per line (used by ViT_FFN.py only)
EMBED = 192               # --embedding (ViT_FFN.py)
BITS = 8                  # every load/store call passes bits=8 (int8 data)
GLOBAL_TOKEN_THRESHOLD = 50   # reorder.py:93 -- column kept by > 50 queries is global

# DeiT-Tiny shapes (from the mask shape / ViT_FFN.py:184 "embedding*4").
DEIT_TINY = dict(n_layers=12, n_heads=3, n_tokens=197, embed=192, head_dim=64, mlp_hidden=768)


# --------------------------------------------------------------------------
# Loads (SRAM.py)
# --------------------------------------------------------------------------
def load_cycles(n_elems: float, bits: int = BITS, bandwidth_ratio: float = 1.0,
                capacity_bits: Optional[float] = None) -> int:
    """Cycles of ONE DRAM->SRAM transfer (SRAM.py:23-107, all methods identical).

    cycles = ceil( n_elems*bits / (HBM_BANDWIDTH_BITS_PER_S*bandwidth_ratio) * CLOCK_HZ )

    Every call is rounded up on its own, so a row of <= 164 bytes costs 1 cycle,
    165..329 bytes 2 cycles, etc.  The release prints an error and then crashes
    (UnboundLocalError) if n_elems*bits exceeds the buffer; we raise ValueError.
    """
    if capacity_bits is not None and n_elems * bits > capacity_bits:
        raise ValueError("transfer of %r bits exceeds buffer of %r bits" % (n_elems * bits, capacity_bits))
    latency_s = n_elems * bits / (HBM_BANDWIDTH_BITS_PER_S * bandwidth_ratio)
    return math.ceil(latency_s * CLOCK_HZ)


# --------------------------------------------------------------------------
# Global tokens and sparse-region size (reorder.py)
# --------------------------------------------------------------------------
def global_token_counts(mask_kept: np.ndarray, threshold: int = GLOBAL_TOKEN_THRESHOLD) -> np.ndarray:
    """g[l,h] = number of key columns kept by more than ``threshold`` queries.

    reorder.py:20-30 builds a graph with an edge key->query per kept score and
    takes the nodes whose out-degree (= kept count of that key column) is
    > threshold (50, reorder.py:93); it then swaps them to the front of both
    the row and the column order (a symmetric permutation).
    """
    kept = np.asarray(mask_kept, dtype=bool)
    col_counts = kept.sum(axis=-2)                 # [L, H, N]: kept per key column
    return (col_counts > threshold).sum(axis=-1).astype(np.int64)


def sparse_nnz(mask_kept: np.ndarray, threshold: int = GLOBAL_TOKEN_THRESHOLD) -> np.ndarray:
    """S[l,h] = kept scores outside the global columns (= ``len(sparser)``,
    ViTCoD.py:78-79, on the reordered mask whose columns g: are the non-global ones)."""
    kept = np.asarray(mask_kept, dtype=bool)
    col_counts = kept.sum(axis=-2)
    return np.where(col_counts > threshold, 0, col_counts).sum(axis=-1).astype(np.int64)


# --------------------------------------------------------------------------
# Attention (ViTCoD.py)
# --------------------------------------------------------------------------
def _div(num, den, zero_width_policy):
    """num/den, reproducing Python's ZeroDivisionError (released behaviour) unless
    zero_width_policy == 'skip' and there is no work (num == 0)."""
    if den == 0 and zero_width_policy == "skip" and num == 0:
        return 0
    return num / den


def attention_head_cycles(n_tokens: int, g: int, s: int, *, n_heads: int = 3,
                          feature_dim: int = FEATURE_DIM, ratio: float = RATIO,
                          n_lines: int = PE_WIDTH, array_cols: int = PE_WIDTH,
                          col_share: Optional[int] = None, load_heads: Optional[int] = None,
                          v_sparse_load_factor: float = 1.0,
                          zero_width_policy: str = "raise") -> Dict[str, float]:
    """Cycle breakdown of one simulated (layer, head) -- ViTCoD.py:76-228.

    n_tokens N, g global tokens, s = S kept scores in the sparse region.
    MAC geometry: ``n_lines`` lines, each with ``array_cols / col_share`` MACs for
    this head (released: 64 lines x 64/3 MACs, because it divides PE_width, not
    PE_height, by the head count: ViTCoD.py:102,166,190,225).
    ``load_heads``: the head count that multiplies the per-row load sizes
    (released: all heads, ``head``); defaults to ``n_heads``.
    The keys mirror the released log lines (log label in brackets).
    """
    N, D, H = n_tokens, feature_dim, n_heads
    if col_share is None:
        col_share = H                                # heads in parallel, as released
    LH = n_heads if load_heads is None else load_heads
    g, s = int(g), int(s)

    # Per-row transfer costs (SRAM.py), sizes in elements of 8 bits.
    qk_row_elems = LH * ratio * 1 * D                      # compressed Q or K row, all heads (ViTCoD.py:98,110,129,143)
    c_qk = load_cycles(qk_row_elems, BITS, 1, SRAM_K_BITS)  # 128 B -> 1 cycle
    c_dec = load_cycles(LH * ratio * 1, BITS, 1 / LH, SRAM_Q_BITS)  # decoder weights (ViTCoD.py:100,112,131,145) -> 1
    c_v = load_cycles(LH * 1 * D, BITS, 1, SRAM_V_BITS)    # uncompressed V row, all heads, 192 B -> 2 (ViTCoD.py:185,218)
    # Decoder pre-processing: cycles per Q/K row (ViTCoD.py:102,114,133,147)
    pre_per_row = math.ceil(qk_row_elems / int(n_lines * array_cols / col_share))

    # --- phase 1: global (dense) keys: load K_g rows, all Q rows once (ViTCoD.py:95-115)
    dense_qk_load = g * c_qk
    dense_pre = g * pre_per_row
    if g > 0:
        dense_qk_load += c_dec                       # decoder weights, first K row
        reload_ratio = 0                             # ViTCoD.py:109 (the formula above it is commented out)
        dense_qk_load += N * (c_qk * (1 + reload_ratio)) + c_dec   # every Q row once + decoder weights
        dense_pre += N * pre_per_row * (1 + reload_ratio)

    # --- phase 2: sparse keys: load the other N-g K rows (ViTCoD.py:128-134)
    sparse_qk_load = (N - g) * c_qk + (c_dec if N - g > 0 else 0)
    sparse_pre = (N - g) * pre_per_row
    # Q is loaded again only when there is no global token (ViTCoD.py:138-148);
    # the reload_ratio computed on lines 138-139 is dead code.
    if g == 0:
        rr = s / (N - g)                             # avg kept per sparse column (float)
        acc_load, acc_pre = sparse_qk_load, sparse_pre
        for i in range(N):                           # sequential float sums, as released
            acc_load += c_qk * rr
            if i == 0:
                acc_load += c_dec
            for _ in range(pre_per_row):
                acc_pre += 1 * rr
        sparse_qk_load, sparse_pre = acc_load, acc_pre

    # --- dynamic split of the lines between dense and sparse engines (ViTCoD.py:159-161)
    dense_ratio = g * N / (s + g * N)
    dense_lines = int(n_lines * dense_ratio)
    sparse_lines = n_lines - dense_lines
    feat_tiles = math.ceil(D / (array_cols / col_share))   # ViTCoD.py:166,173 -> ceil(64/(64/3)) = 3

    # --- SDDMM (Q.K^T) ViTCoD.py:163-177
    dense_sddmm = g * math.ceil(_div(N, dense_lines, zero_width_policy)) * feat_tiles if g > 0 else 0
    sparse_sddmm = math.ceil(_div(s, sparse_lines, zero_width_policy)) * feat_tiles
    sddmm = max(dense_sddmm, sparse_sddmm)

    # --- SpMM (S.V) ViTCoD.py:184-228
    dense_v_load = g * c_v
    dense_spmm = math.ceil(_div(N * D * g, int(dense_lines * array_cols / col_share), zero_width_policy))
    # released: int per row; 0b4031a / first shipped run: *(1+0.5) -> float per row
    v_row = c_v if v_sparse_load_factor == 1.0 else c_v * v_sparse_load_factor
    sparse_v_load = 0
    for _ in range(N - g):                           # sequential sum, as released
        sparse_v_load += v_row
    # sum of the per-row counts built on ViTCoD.py:197-212 is exactly S
    sparse_spmm = math.ceil(_div(s * D, int(sparse_lines * array_cols / col_share), zero_width_policy))
    spmm = max(sparse_spmm, dense_spmm)

    sparse_density = 0 if g == N else s / (N * (N - g))   # ViTCoD.py:80-83

    return dict(
        global_tokens=g, sparse_nnz=s, dense_lines=dense_lines, sparse_lines=sparse_lines,
        dense_qk_load=dense_qk_load,       # [Dense SpMM dataloader] (1st)
        dense_pre=dense_pre,               # [Dense SpMM decoder]
        sparse_qk_load=sparse_qk_load,     # [Sparse SpMM dataloader] (1st)
        sparse_pre=sparse_pre,             # [Sparse SpMM decoder]
        dense_sddmm=dense_sddmm,           # [Dense SDMM PE caclulation]
        sparse_sddmm=sparse_sddmm,         # [Sparse SDMM PE caclulation]
        dense_v_load=dense_v_load,         # [Dense SpMM dataloader] (2nd)
        dense_spmm=dense_spmm,             # [Dense SpMM PE caclulation]
        sparse_v_load=sparse_v_load,       # [Sparse SpMM dataloader] (2nd)
        sparse_spmm=sparse_spmm,           # [Sparse SpMM PE caclulation]
        sddmm=sddmm, spmm=spmm,
        pre=dense_pre + sparse_pre,
        compute=sddmm + spmm,
        loads=dense_qk_load + sparse_qk_load + dense_v_load + sparse_v_load,
        sparse_density=sparse_density,
    )


def released_attention_cycles(mask_kept: np.ndarray, *, global_tokens: Optional[np.ndarray] = None,
                              threshold: int = GLOBAL_TOKEN_THRESHOLD,
                              feature_dim: int = FEATURE_DIM, ratio: float = RATIO,
                              n_lines: int = PE_WIDTH, array_cols: int = PE_WIDTH,
                              heads_parallel: bool = True, head0_only: bool = True,
                              load_heads: Optional[int] = None,
                              v_sparse_load_factor: float = 1.0,
                              zero_width_policy: str = "raise") -> Dict:
    """Attention cycles as ViTCoD.py (b2f7fb5) computes them.

    Defaults reproduce the release: only head 0 of every layer is simulated
    (ViTCoD.py:67 ``range(head//head)``), standing for all heads in parallel, each
    head owning ``n_lines`` lines x ``array_cols/H`` MACs (64 x 64/3 -> 4,096
    MACs in total for H=3).

    Knobs:
      * ``array_cols``: MAC columns of the array that the per-head share is cut
        from (release: PE_width=64; the earlier commit 0b4031a: PE_height=8).
      * ``heads_parallel``: True -> each head gets array_cols/H MACs per line;
        False -> a head gets all array_cols MACs per line (heads run serially).
      * ``head0_only``: True -> simulate head 0 per layer only; False -> every
        head with its own mask, costs summed (serial).
      * ``load_heads``: head count multiplying the per-row load sizes (default H,
        as released; 1 = each head loads only its own rows).
      * ``v_sparse_load_factor``: 1.5 reproduces the commented-out
        ``*(1+0.5)`` of ViTCoD.py:217 (first shipped log run, commit 0b4031a).
      * ``zero_width_policy``: 'raise' (released: ZeroDivisionError when an
        engine gets 0 lines, e.g. g == 0 or g == N) or 'skip' (0 cycles when that
        engine has no work).
    Returns dict with 'per_head' (list), 'per_layer' (list) and 'totals'.
    """
    kept = np.asarray(mask_kept, dtype=bool)
    L, H, N, N2 = kept.shape
    assert N == N2, "square attention maps expected"
    g_all = global_token_counts(kept, threshold) if global_tokens is None \
        else np.asarray(global_tokens).astype(np.int64)   # ViTCoD.py:76 int(...)
    s_all = _sparse_nnz_given_g(kept, g_all, threshold, global_tokens is None)
    col_share = H if heads_parallel else 1
    heads = [0] if head0_only else list(range(H))

    per_head: List[Dict] = []
    tot_loads = 0
    tot_pre = 0
    tot_sddmm = 0
    tot_spmm = 0
    tot_density = 0
    per_layer: List[Dict] = []
    for l in range(L):
        layer = dict(layer=l, loads=0, pre=0, sddmm=0, spmm=0, compute=0)
        for h in heads:
            r = attention_head_cycles(N, int(g_all[l, h]), int(s_all[l, h]), n_heads=H,
                                      feature_dim=feature_dim, ratio=ratio, n_lines=n_lines,
                                      array_cols=array_cols, col_share=col_share,
                                      load_heads=load_heads,
                                      v_sparse_load_factor=v_sparse_load_factor,
                                      zero_width_policy=zero_width_policy)
            r = dict(layer=l, head=h, **r)
            per_head.append(r)
            tot_density += r["sparse_density"]
            # accumulation order of ViTCoD.py:117-118,150,177,186,219,228
            tot_pre += r["dense_pre"]
            tot_loads += r["dense_qk_load"]
            tot_pre += r["sparse_pre"]
            tot_loads += r["sparse_qk_load"]
            tot_sddmm += r["sddmm"]
            tot_loads += r["dense_v_load"]
            tot_loads += r["sparse_v_load"]
            tot_spmm += r["spmm"]
            for k in ("loads", "pre", "sddmm", "spmm", "compute"):
                layer[k] += r[k]
        per_layer.append(layer)

    compute = tot_sddmm + tot_spmm
    totals = dict(
        loads=tot_loads,                         # "total preloading cycles"
        preprocessing=tot_pre,                   # "total processing cycles" (decoder)
        sddmm=tot_sddmm, spmm=tot_spmm,
        compute=compute,                         # "total Computation cycles"
        attention=max(tot_loads, tot_pre + tot_sddmm + tot_spmm),   # "Total cycles" (ViTCoD.py:278)
        # "number of non-zeros in the sparser region" (ViTCoD.py:271): in fact the
        # mean sparse-region density of the simulated heads (release divides by L)
        # (for head0_only this is exactly the released tot/L; otherwise /(L*heads))
        sparse_density_mean=tot_density / (L * len(heads)),
        # heads_parallel: H heads x n_lines x array_cols/H; serial: n_lines x array_cols
        total_macs=n_lines * array_cols,
        macs_per_line_per_head=array_cols / col_share,
        heads_simulated=len(heads) * L,
    )
    return dict(per_head=per_head, per_layer=per_layer, totals=totals)


def _sparse_nnz_given_g(kept, g_all, threshold, g_from_threshold):
    """S per head.  If g was given explicitly (e.g. loaded from the released
    global_token file) it must agree with the threshold rule, because the
    reordered mask puts exactly the > threshold columns first."""
    if not g_from_threshold:
        g_thr = global_token_counts(kept, threshold)
        if not np.array_equal(g_thr, g_all):
            raise ValueError("given global token counts disagree with the threshold rule")
    return sparse_nnz(kept, threshold)


def honest_512_attention_cycles(mask_kept: np.ndarray, *, per_head_loads: bool = False, **kw) -> Dict:
    """The 'honest 512-MAC reading': 64 lines x 8 MACs (= 512, as in ViT_FFN.py
    and the paper's PE array) shared by all heads; every head simulated with its
    own mask, one head after another; everything else as released.

    ``per_head_loads=False`` keeps the released per-row load sizes literally (each
    row load carries all heads' data, so summing over heads counts it H times);
    ``per_head_loads=True`` sizes each head's row loads for that head alone.
    """
    return released_attention_cycles(mask_kept, n_lines=PE_WIDTH, array_cols=PE_HEIGHT,
                                      heads_parallel=False, head0_only=False,
                                      load_heads=1 if per_head_loads else None, **kw)


# --------------------------------------------------------------------------
# Linear layers + encoder (ViT_FFN.py:102-174)
# --------------------------------------------------------------------------
def released_linear_cycles(*, n_layers: int = 12, n_tokens: int = 197, embed: int = EMBED,
                           n_heads: int = 3, head_dim: int = FEATURE_DIM, ratio: float = RATIO,
                           pe_width: int = PE_WIDTH, pe_height: int = PE_HEIGHT) -> Dict:
    """QKV projections, encoder (compress Q/K, store Q/K/V) and the output
    projection ("concat of multi-head"), as ViT_FFN.py times them.

    Head 0 only per layer (ViT_FFN.py:93), on 1/H of the 512-MAC array; the
    result is shape-only (no mask dependence).
    """
    N, E, D, H = n_tokens, embed, head_dim, n_heads
    macs_per_head = int(pe_width * pe_height / H)             # int(512/3) = 170
    # Q, K, V projections (ViT_FFN.py:108-132): weights = D loads of H*E bytes each
    w_col = load_cycles(H * 1 * E, BITS, 1, SRAM_OUTPUT_BITS)  # 576 B -> 4 cycles
    qkv_loads = 3 * D * w_col
    qkv_compute = 3 * N * int((E * D) // macs_per_head)       # floor: 12288//170 = 72 per row
    # Encoder + store back (ViT_FFN.py:136-158)
    hr = H * ratio                                            # 2.0
    enc_w = load_cycles(H * 1, BITS, 1 / hr, SRAM_Q_BITS)     # encoder weights -> 1
    st_qk = load_cycles(1 * D, BITS, 1 / hr, SRAM_OUTPUT_BITS)  # store a compressed row -> 1
    st_v = load_cycles(1 * D, BITS, 1 / H, SRAM_OUTPUT_BITS)    # store a V row -> 2
    enc_pre_per_row = math.ceil((H * 1 * D) // int(pe_width * pe_height / hr))  # 192//256 = 0
    enc_loads = 2 * (enc_w + N * st_qk) + N * st_v
    enc_pre = 2 * N * enc_pre_per_row
    # Output projection (ViT_FFN.py:162-166)
    proj_compute = int(N * E * D // macs_per_head)            # 2,420,736 // 170 = 14,239
    proj_loads = (N // macs_per_head) * E * load_cycles(D, BITS, 1 / H, SRAM_OUTPUT_BITS)  # 1*192*2

    layer = dict(qkv_loads=qkv_loads, qkv_compute=qkv_compute, encoder_loads=enc_loads,
                 encoder_pre=enc_pre, proj_loads=proj_loads, proj_compute=proj_compute,
                 loads=qkv_loads + enc_loads + proj_loads,       # "Embedding dataloader"
                 pre=enc_pre,                                    # "Embedding decoder"
                 compute=qkv_compute + proj_compute)             # "Embedding calcuation"
    tot = dict(loads=n_layers * layer["loads"], pre=n_layers * layer["pre"],
               compute=n_layers * layer["compute"])
    tot["linear"] = max(tot["compute"] + tot["pre"], tot["loads"])   # ViT_FFN.py:209
    return dict(per_layer=layer, totals=tot)


# --------------------------------------------------------------------------
# FFN (ViT_FFN.py:178-197)
# --------------------------------------------------------------------------
def released_ffn_cycles(*, n_layers: int = 12, n_tokens: int = 197, embed: int = EMBED,
                        mlp_hidden: Optional[int] = None, pe_width: int = PE_WIDTH,
                        pe_height: int = PE_HEIGHT) -> Dict:
    """Two dense FCs (E->M, M->E; M = 4E hard-coded in the release) on the full
    512-MAC array, floor-divided; weight loads happen once per *full* block of 512
    tokens, i.e. never for N = 197 (ViT_FFN.py:183,189)."""
    N, E = n_tokens, embed
    M = 4 * E if mlp_hidden is None else mlp_hidden
    macs = int(pe_height * pe_width)                          # 512
    fc1 = int(N * E * M // macs)                              # 197*192*768//512 = 56,736
    fc2 = int(N * E * M // macs)                              # ViT_FFN.py:187: same product
    blocks = N // macs                                        # 197 // 512 = 0
    fc1_loads = blocks * M * load_cycles(E, BITS, 1, SRAM_OUTPUT_BITS)
    fc2_loads = blocks * E * load_cycles(M, BITS, 1, SRAM_OUTPUT_BITS)
    layer = dict(fc1_compute=fc1, fc2_compute=fc2, compute=fc1 + fc2,
                 loads=fc1_loads + fc2_loads)
    tot = dict(compute=n_layers * layer["compute"], loads=n_layers * layer["loads"])
    tot["ffn"] = max(tot["compute"], tot["loads"])            # ViT_FFN.py:210
    return dict(per_layer=layer, totals=tot)


def released_end_to_end_cycles(mask_kept: np.ndarray, **attn_kw) -> Dict:
    """README: end-to-end = attention (ViTCoD.py) + linear + FFN (ViT_FFN.py)."""
    kept = np.asarray(mask_kept, dtype=bool)
    L, H, N, _ = kept.shape
    a = released_attention_cycles(kept, **attn_kw)["totals"]["attention"]
    lin = released_linear_cycles(n_layers=L, n_tokens=N, n_heads=H)["totals"]["linear"]
    ffn = released_ffn_cycles(n_layers=L, n_tokens=N)["totals"]["ffn"]
    total = a + lin + ffn
    return dict(attention=a, linear=lin, ffn=ffn, total=total, seconds=total / CLOCK_HZ)


if __name__ == "__main__":  # pragma: no cover
    import sys
    path = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/deit_tiny_info_0.95.npy"
    kept = ~np.load(path)
    r = released_attention_cycles(kept)
    for row in r["per_head"]:
        print(row)
    print("attention totals:", r["totals"])
    print("linear:", released_linear_cycles()["totals"])
    print("ffn:", released_ffn_cycles()["totals"])
    print("end-to-end:", released_end_to_end_cycles(kept))
    for ph in (False, True):
        print("honest 512-MAC (per_head_loads=%s):" % ph, honest_512_attention_cycles(kept, per_head_loads=ph)["totals"])
