"""Sanger and SpAtten: their presets and strict loader, Sanger's pack-and-split kernel against a
naive twin, hand-derived counts, hypothesis invariants, and DeiT-Tiny end to end.

The naive twin of the kernel builds each head's mask in the original key order from the
trace's polarized CSR (``PolarizedHead.permuted_mask`` and the key permutation) and counts
kept scores per port-wide vector with plain Python.
"""

from __future__ import annotations

import dataclasses
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from vitsim.errors import ConfigError
from vitsim.hw_configs.loader import load_hardware
from vitsim.hw_configs.peers import (
    PeerKind,
    SangerConfig,
    SpAttenConfig,
    dump_peer,
    known_peers,
    load_peer,
    load_sanger,
    load_spatten,
    peer_from_dict,
    peer_to_dict,
    write_peer,
)
from vitsim.simulator.baselines.result import BaselineKind
from vitsim.simulator.counts import STAGES
from vitsim.simulator.kernels import sanger_pack_split
from vitsim.simulator.peers.sanger import resolve_sanger, sanger_heads, simulate_sanger
from vitsim.simulator.peers.spatten import (
    resolve_spatten,
    simulate_spatten,
    token_schedule,
    topk_cycles,
)
from vitsim.strict_yaml import loads_strict
from vitsim.workloads.model_spec import build_vit, get_spec
from vitsim.workloads.pipeline import trace_synthetic
from vitsim.workloads.trace import PolarizePolicy, WorkloadTrace, build_trace

HYPOTHESIS = settings(max_examples=25, deadline=None)

# One block, one head of 197 tokens (DeiT's 224 px / 16 px patches), head_dim 64.
ONE_HEAD = build_vit("one-head", embed_dim=64, depth=1, n_heads=1, mlp_ratio=1.0, n_classes=4)
# Seventeen tokens (CLS + 4 x 4 patches), two heads of head_dim 8: for random masks.
SMALL = build_vit("small", embed_dim=16, depth=2, n_heads=2, image_size=32, patch_size=8,
                  mlp_ratio=1.0, n_classes=4)


@pytest.fixture(scope="module")
def sanger() -> SangerConfig:
    return load_sanger()


@pytest.fixture(scope="module")
def spatten() -> SpAttenConfig:
    return load_spatten()


@pytest.fixture(scope="module")
def vitcod():
    return load_hardware("vitcod")


@pytest.fixture(scope="module")
def deit_tiny() -> WorkloadTrace:
    return trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)


def trace_of(spec, masks: list[np.ndarray], polarize: bool = True) -> WorkloadTrace:
    """A trace of ``spec`` from kept masks, one bool ``[heads, n, n]`` array per block."""
    return build_trace(spec, masks, policy=PolarizePolicy(enabled=polarize))


# --------------------------------------------------------------------------------------
# Presets and the strict loader
# --------------------------------------------------------------------------------------


def _write(tmp_path: Path, data: dict | str, name: str = "peer.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_peer(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text
    return text


def test_the_shipped_peers_are_there():
    assert set(known_peers()) == {"sanger", "spatten"}


@pytest.mark.parametrize("name", ["sanger", "spatten"])
def test_presets_load_named_after_their_file_and_round_trip(name, tmp_path):
    cfg = load_peer(name)
    assert cfg.name == name and cfg.kind is PeerKind(name)
    text = dump_peer(cfg)
    again = peer_from_dict(loads_strict(text, source="dump"), source="dump")
    assert again == cfg and hash(again) == hash(cfg)
    assert dump_peer(again) == text
    assert load_peer(write_peer(cfg, tmp_path / f"{name}.yaml")) == cfg


def test_published_configurations(sanger, spatten):
    assert (sanger.array.pe_rows, sanger.array.pes_per_row, sanger.array.port_width) == (64, 16, 64)
    assert sanger.array.n_pes == 1024 and sanger.clock_mhz == 1000 and sanger.data_bits == 16
    assert sanger.dram.bandwidth_gb_per_s == 128 and sanger.prediction.quant_bits == 4
    assert (spatten.units.qk_multipliers, spatten.units.sv_multipliers) == (512, 512)
    assert spatten.clock_mhz == 1000 and spatten.dram.bandwidth_gb_per_s == 512


def _has_source(lines: list[str], i: int) -> bool:
    return "#" in lines[i] or (i > 0 and lines[i - 1].lstrip().startswith("#"))


@pytest.mark.parametrize("name", ["sanger", "spatten"])
def test_every_preset_constant_has_a_comment(name):
    """Each value line, or one of the sections enclosing it, cites where it comes from."""
    text = (resources.files("vitsim.hw_configs").joinpath("presets", "peers", f"{name}.yaml")
            .read_text())
    lines = text.splitlines()
    for i, line in enumerate(lines):
        value = line.split("#", 1)[0]
        if not value.strip() or value.rstrip().endswith(":") or value.startswith(
                ("name:", "kind:")):
            continue
        covered, indent, j = _has_source(lines, i), len(value) - len(value.lstrip()), i
        while not covered and indent > 0 and j > 0:
            j -= 1
            parent = lines[j].split("#", 1)[0]
            if parent.strip() and len(parent) - len(parent.lstrip()) < indent:
                covered = _has_source(lines, j)
                indent = len(parent) - len(parent.lstrip())
        assert covered, f"{name}.yaml line {i + 1} cites no source: {line.strip()}"


def test_unknown_key_names_file_path_and_allowed_keys(tmp_path, sanger):
    data = peer_to_dict(sanger)
    data["array"]["pes_per_rw"] = data["array"].pop("pes_per_row")
    path = _write(tmp_path, data)
    text = _error(path)
    assert "array.pes_per_rw: unknown key; allowed: pe_rows, pes_per_row, port_width" in text
    assert "array.pes_per_row: missing required key" in text


def test_every_problem_is_reported_at_once(tmp_path, spatten):
    data = peer_to_dict(spatten)
    data["clock_mhz"] = -1
    data["units"]["qk_multipliers"] = 0
    data["quantization"]["lsb_refetch_fraction"] = 1.5
    data["dram"]["kind"] = "hbm9"
    del data["energy"]["topk_op_pj"]
    data["pruning"]["typo"] = 1
    text = _error(_write(tmp_path, data))
    for fragment in ("clock_mhz: must be positive", "units.qk_multipliers: must be a positive",
                     "quantization.lsb_refetch_fraction: must be in [0, 1]",
                     "dram.kind: 'hbm9' is not one of: ddr4, lpddr4, hbm2",
                     "energy.topk_op_pj: missing required key",
                     "pruning.typo: unknown key; allowed: token_keep_ratios, head_keep_ratio"):
        assert fragment in text, (fragment, text)


def test_duplicate_key(tmp_path):
    text = _error(_write(tmp_path, "kind: sanger\nname: a\nname: b\n"))
    assert "name: duplicate key (line 3)" in text


@pytest.mark.parametrize(("kind", "fragment"), [
    (None, "kind: missing required key; one of: sanger, spatten"),
    ("sangr", "kind: 'sangr' is not one of: sanger, spatten"),
])
def test_missing_or_unknown_kind(tmp_path, sanger, kind, fragment):
    data = peer_to_dict(sanger)
    if kind is None:
        del data["kind"]
    else:
        data["kind"] = kind
    assert fragment in _error(_write(tmp_path, data))


@pytest.mark.parametrize(("ratios", "fragment"), [
    ([1.0, 0.5, 0.7], "entry 2 (0.7) exceeds entry 1 (0.5)"),
    ([1.0, 1.2], "entry 1 must be in (0, 1], got 1.2"),
    ([], "expected a non-empty list"),
    ("all", "expected a non-empty list"),
    ([1.0, True], "expected a non-empty list"),
])
def test_token_keep_ratios_are_checked(tmp_path, spatten, ratios, fragment):
    data = peer_to_dict(spatten)
    data["pruning"]["token_keep_ratios"] = ratios
    text = _error(_write(tmp_path, data))
    assert "pruning.token_keep_ratios" in text and fragment in text


def test_typed_loaders_check_the_kind():
    with pytest.raises(ConfigError, match="expected sanger, got spatten"):
        load_sanger("spatten")
    with pytest.raises(ConfigError, match="unknown peer preset 'sangr'; known: sanger, spatten"):
        load_peer("sangr")


def test_configs_are_frozen(sanger):
    with pytest.raises(dataclasses.FrozenInstanceError):
        sanger.clock_mhz = 2.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match="pe_rows"):
        dataclasses.replace(sanger.array, pe_rows=0)


# --------------------------------------------------------------------------------------
# Sanger's pack and split: hand-built masks, kernel vs naive twin
# --------------------------------------------------------------------------------------


def naive_pack_split(trace: WorkloadTrace, port_width: int, pes_per_row: int, pe_rows: int,
                     density_factor: float = 1.0, skip_empty: bool = True):
    out = []
    for _, _, head in trace.heads():
        mask = np.zeros((head.n_q, head.n_k), dtype=bool)
        mask[:, head.perm] = head.permuted_mask()  # back to the original key order
        kept = sub_rows = passes = columns = 0
        for start in range(0, head.n_k, port_width):
            width = min(port_width, head.n_k - start)
            rows_here = 0
            for row in mask:
                c = int(row[start:start + width].sum())
                if c:
                    c = min(width, math.ceil(c * density_factor))
                    kept += c
                    rows_here += math.ceil(c / pes_per_row)
                elif not skip_empty:
                    rows_here += 1
            sub_rows += rows_here
            passes += math.ceil(rows_here / pe_rows)
            columns += math.ceil(rows_here / pe_rows) * width
        out.append((kept, sub_rows, passes, columns))
    return [tuple(int(v) for v in column) for column in zip(*out, strict=True)]


def kernel_pack_split(trace: WorkloadTrace, port_width: int, pes_per_row: int, pe_rows: int,
                      density_factor: float = 1.0, skip_empty: bool = True):
    at = trace.attention
    got = sanger_pack_split(at.perm, at.perm_offsets, at.n_k, at.row_offsets, at.dense_row_nnz,
                            at.dense_indices, at.dense_offsets, at.sparse_row_nnz,
                            at.sparse_indices, at.sparse_offsets, port_width, pes_per_row,
                            pe_rows, density_factor, skip_empty)
    return [tuple(int(v) for v in column) for column in got]


def test_a_row_of_100_kept_of_197():
    """Keys 0..99 kept by query 0 alone: vectors [0, 64) hold 64 (4 sub-rows of 16), [64, 128)
    hold 36 (3 sub-rows: 16 + 16 + 4); the vectors [128, 192) and [192, 197) are empty and
    skipped. 7 sub-rows, each vector's fit in one pass of 64 PE rows: 2 passes of 64 keys."""
    mask = np.zeros((1, 197, 197), dtype=bool)
    mask[0, 0, :100] = True
    trace = trace_of(ONE_HEAD, [mask])
    assert kernel_pack_split(trace, 64, 16, 64) == [(100,), (7,), (2,), (128,)]
    # without skipping, each of the other 196 rows and the query's 2 empty vectors take a
    # PE row: 7 + 2 + 196 * 4 = 793 sub-rows; vector 0 has 4 + 196 = 200 rows -> 4 passes,
    # vector 1 the same, vectors 2 and 3 have 197 rows -> 4 passes: 16 passes
    assert kernel_pack_split(trace, 64, 16, 64, skip_empty=False) == [
        (100,), (793,), (16,), (4 * 64 + 4 * 64 + 4 * 64 + 4 * 5,)]
    # denser prediction (factor 1.5): 64 stays 64 (the vector is full), 36 -> 54 (4 sub-rows)
    assert kernel_pack_split(trace, 64, 16, 64, density_factor=1.5)[:2] == [(118,), (8,)]
    assert kernel_pack_split(trace, 64, 16, 64) == naive_pack_split(trace, 64, 16, 64)


def test_many_rows_need_several_passes():
    """Every query keeps keys 0..15: one sub-row each in vector 0; 197 sub-rows on 64 PE rows
    take ceil(197 / 64) = 4 passes of that vector."""
    mask = np.zeros((1, 197, 197), dtype=bool)
    mask[0, :, :16] = True
    trace = trace_of(ONE_HEAD, [mask])
    assert kernel_pack_split(trace, 64, 16, 64) == [(197 * 16,), (197,), (4,), (4 * 64,)]
    assert kernel_pack_split(trace, 64, 16, 32)[2] == (7,)


@st.composite
def small_masks(draw):
    density = draw(st.floats(0.0, 1.0))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    return [rng.random((2, 17, 17)) < density for _ in range(2)]


@HYPOTHESIS
@given(masks=small_masks(), port_width=st.integers(1, 20), pes=st.integers(1, 6),
       pe_rows=st.integers(1, 9), factor=st.sampled_from([0.5, 1.0, 1.7]),
       skip=st.booleans(), polarize=st.booleans())
def test_kernel_matches_naive_twin(masks, port_width, pes, pe_rows, factor, skip, polarize):
    trace = trace_of(SMALL, masks, polarize)
    args = (port_width, pes, pe_rows, factor, skip)
    assert kernel_pack_split(trace, *args) == naive_pack_split(trace, *args)


def test_kernel_matches_naive_twin_on_deit_tiny(deit_tiny):
    assert kernel_pack_split(deit_tiny, 64, 16, 64) == naive_pack_split(deit_tiny, 64, 16, 64)


def test_kernel_on_the_real_mask(real_mask_path):
    from vitsim.workloads.pipeline import trace_mask_file

    trace = trace_mask_file(real_mask_path, get_spec("deit-tiny"), convention="pruned")
    kept, _, _, _ = kernel_pack_split(trace, 64, 16, 64)
    assert sum(kept) == int(trace.attention.dense_offsets[-1] + trace.attention.sparse_offsets[-1])
    assert kernel_pack_split(trace, 64, 16, 64) == naive_pack_split(trace, 64, 16, 64)


# --------------------------------------------------------------------------------------
# Sanger: closed forms and invariants
# --------------------------------------------------------------------------------------


def _ops(result) -> dict:
    return {o.name.split(":", 1)[1]: o for o in result.operators}


def test_sanger_attention_of_one_head_by_hand(sanger):
    """The 100-of-197 row: 2 passes. QK^T 2 x 64 + 63 (keys reach the last row) = 191
    cycles, softmax 2 x 19 = 38, S V 2 x 64 + 63 + 15 = 206. The 4-bit prediction, 197 x 64 x
    197 on 64 x 16 output stationary: 4 x 13 folds x (64 + 64 + 16 - 2) = 7,384 cycles, all
    visible (one head: nothing to overlap it with)."""
    mask = np.zeros((1, 197, 197), dtype=bool)
    mask[0, 0, :100] = True
    fast = dataclasses.replace(sanger, dram=dataclasses.replace(sanger.dram,
                                                               bandwidth_gb_per_s=1e12))
    ops = _ops(simulate_sanger(trace_of(ONE_HEAD, [mask]), fast))
    ms = 1e-3 / fast.clock_mhz
    assert ops["qk"].latency_ms == pytest.approx(191 * ms, rel=1e-6)
    assert ops["softmax"].latency_ms == pytest.approx(38 * ms)
    assert ops["sv"].latency_ms == pytest.approx(206 * ms)
    assert ops["predict"].latency_ms == pytest.approx(7384 * ms)
    assert ops["qk"].flops == 2 * 100 * 64 and ops["predict"].flops == 2 * 197 * 64 * 197


def test_prediction_hides_behind_the_sparse_array_when_it_can(sanger, deit_tiny):
    serial = dataclasses.replace(sanger, prediction=dataclasses.replace(
        sanger.prediction, overlap_with_attention=False))
    over, ser = _ops(simulate_sanger(deit_tiny, sanger)), _ops(simulate_sanger(deit_tiny, serial))
    assert over["predict"].latency_ms < ser["predict"].latency_ms
    assert over["qk"].latency_ms == pytest.approx(ser["qk"].latency_ms, rel=0.05)


def test_sanger_without_prediction_is_faster(sanger, deit_tiny):
    """prediction.enabled false: no predict operator, no prediction MACs or energy, and the
    sparse work unchanged, so Sanger is faster and cheaper (the lower bracket)."""
    off = dataclasses.replace(sanger, prediction=dataclasses.replace(
        sanger.prediction, enabled=False))
    with_pred, without = simulate_sanger(deit_tiny, sanger), simulate_sanger(deit_tiny, off)
    ops_on, ops_off = _ops(with_pred), _ops(without)
    assert "predict" in ops_on and "predict" not in ops_off
    assert ops_off["qk"].latency_ms == pytest.approx(ops_on["qk"].latency_ms)
    assert without.latency_ms < with_pred.latency_ms
    assert without.energy_mj < with_pred.energy_mj
    assert with_pred.latency_ms - without.latency_ms == pytest.approx(
        ops_on["predict"].latency_ms, rel=1e-6)
    assert "not charged" in without.provenance["prediction"]


def _bandwidth(cfg, gb_per_s):
    return dataclasses.replace(cfg, dram=dataclasses.replace(cfg.dram,
                                                             bandwidth_gb_per_s=gb_per_s))


@HYPOTHESIS
@given(masks=small_masks(), extra=st.integers(0, 2**31 - 1))
def test_denser_masks_never_make_sanger_faster(masks, extra):
    sanger = load_sanger()
    rng = np.random.default_rng(extra)
    denser = [m | (rng.random(m.shape) < 0.3) for m in masks]
    a = simulate_sanger(trace_of(SMALL, masks), sanger)
    b = simulate_sanger(trace_of(SMALL, denser), sanger)
    assert b.latency_ms >= a.latency_ms * (1 - 1e-12)
    assert b.energy_mj >= a.energy_mj * (1 - 1e-12)


@HYPOTHESIS
@given(masks=small_masks(), low=st.floats(1.0, 200.0), factor=st.floats(1.0, 10.0))
def test_more_bandwidth_never_slows_either_peer(masks, low, factor):
    trace = trace_of(SMALL, masks)
    for cfg, run in ((load_sanger(), simulate_sanger), (load_spatten(), simulate_spatten)):
        slow = run(trace, _bandwidth(cfg, low)).latency_ms
        fast = run(trace, _bandwidth(cfg, low * factor)).latency_ms
        assert fast <= slow * (1 + 1e-12)


def test_mask_density_factor_is_monotone(sanger, deit_tiny):
    lat = [simulate_sanger(deit_tiny, dataclasses.replace(sanger, prediction=dataclasses.replace(
        sanger.prediction, mask_density_factor=f))).latency_ms for f in (0.5, 1.0, 2.0)]
    assert lat[0] <= lat[1] <= lat[2] and lat[0] < lat[2]


def test_sanger_normalised_to_vitcod(sanger, vitcod, deit_tiny):
    norm = resolve_sanger(sanger, vitcod)
    assert norm.array.pe_rows * norm.array.pes_per_row == vitcod.total_macs == 512
    assert (norm.array.pes_per_row, norm.array.port_width) == (16, 64)
    assert norm.prediction.rows == 32 and norm.clock_mhz == 500
    assert norm.dram.bandwidth_gb_per_s == 76.8 and norm.data_bits == 16
    assert norm.energy.technology_nm == 28
    assert norm.energy.mac_pj == pytest.approx(sanger.energy.mac_pj * 28 / 55)
    assert norm.energy.dram_pj_per_byte == vitcod.energy.dram_pj_per_byte
    assert resolve_sanger(sanger) is sanger
    pub = simulate_sanger(deit_tiny, sanger)
    nrm = simulate_sanger(deit_tiny, sanger, normalise_to=vitcod)
    assert pub.provenance["configuration"] == "published"
    assert nrm.provenance["configuration"] == "normalised"
    assert nrm.provenance["normalised_to"] == "vitcod"
    # half the PEs at half the clock on 60% of the bandwidth: much slower, never faster
    assert nrm.latency_ms > 2 * pub.latency_ms
    # the same work: the same MACs and kept scores
    assert sum(o.flops for o in nrm.operators) == sum(o.flops for o in pub.operators)
    assert nrm.provenance["kept_scores"] == pub.provenance["kept_scores"]


def test_sanger_energy_scales_with_every_price(sanger, deit_tiny):
    e = sanger.energy
    scaled_energy = dataclasses.replace(
        e, mac_pj=3 * e.mac_pj, prediction_mac_pj=3 * e.prediction_mac_pj,
        softmax_op_pj=3 * e.softmax_op_pj, vector_op_pj=3 * e.vector_op_pj,
        sram_read_pj_per_byte=dataclasses.replace(
            e.sram_read_pj_per_byte, **{k: 3 * v for k, v in dataclasses.asdict(
                e.sram_read_pj_per_byte).items()}),
        sram_write_pj_per_byte=dataclasses.replace(
            e.sram_write_pj_per_byte, **{k: 3 * v for k, v in dataclasses.asdict(
                e.sram_write_pj_per_byte).items()}),
        dram_pj_per_byte=3 * e.dram_pj_per_byte, leakage_mw=3 * e.leakage_mw)
    base = simulate_sanger(deit_tiny, sanger)
    scaled = simulate_sanger(deit_tiny, dataclasses.replace(sanger, energy=scaled_energy))
    assert scaled.energy_mj == pytest.approx(3 * base.energy_mj, rel=1e-9)
    assert scaled.latency_ms == base.latency_ms


def test_sanger_heads_count_the_trace(sanger, deit_tiny):
    heads = sanger_heads(deit_tiny, sanger)
    kept = deit_tiny.attention.dense_nnz() + deit_tiny.attention.sparse_nnz()
    assert np.array_equal(heads.kept, kept)
    assert np.all(heads.sub_rows * sanger.array.pes_per_row >= heads.kept)


# --------------------------------------------------------------------------------------
# SpAtten: the cascade by hand, top-k, invariants
# --------------------------------------------------------------------------------------


def test_token_cascade_on_deit_tiny(spatten):
    """ceil(197 x 0.7) = 138, ceil(197 x 0.49) = 97, ceil(197 x 0.343) = 68."""
    spec = get_spec("deit-tiny")
    assert token_schedule(spec, spatten.pruning.token_keep_ratios) == (
        197, 197, 197, 138, 138, 138, 97, 97, 97, 68, 68, 68)
    # a 24-block model reads the 12-entry schedule by relative depth
    deep = token_schedule(get_spec("vit-l16"), spatten.pruning.token_keep_ratios)
    assert deep == (197,) * 6 + (138,) * 6 + (97,) * 6 + (68,) * 6
    assert token_schedule(get_spec("levit-128"), spatten.pruning.token_keep_ratios) is None
    assert token_schedule(spec, (0.001,)) == (1,) * 12  # the CLS token always survives


def test_spatten_counts_follow_the_cascade(spatten, deit_tiny):
    """Attention MACs are dense over the survivors of every head; the linear layers shrink."""
    tokens = token_schedule(deit_tiny.spec, spatten.pruning.token_keep_ratios)
    no_refetch = dataclasses.replace(spatten, quantization=dataclasses.replace(
        spatten.quantization, lsb_refetch_fraction=0.0))
    ops = _ops(simulate_spatten(deit_tiny, no_refetch))
    assert ops["qk"].flops == 2 * sum(3 * n * n * 64 for n in tokens)
    assert ops["sv"].flops == ops["qk"].flops
    assert ops["qkv"].flops == 2 * sum(n * 192 * 576 for n in tokens)
    assert ops["fc2"].flops == 2 * sum(n * 768 * 192 for n in tokens)
    assert "requant" not in ops
    # three pruning points (197 -> 138 -> 97 -> 68), no head pruning: three top-k runs
    assert ops["topk"].count == 3
    expected = sum(topk_cycles(a, b, parallelism=4, round_overhead_cycles=4, io_per_cycle=8)[0]
                   for a, b in ((197, 138), (138, 97), (97, 68)))
    assert ops["topk"].latency_ms == pytest.approx(expected * 1e-3 / spatten.clock_mhz)


def test_spatten_attention_cycles_by_hand(spatten):
    """One head, 197 tokens, no pruning: 8 keys a cycle per query (512 / 64) in both units,
    197 x ceil(197 / 8) = 4,925 cycles, split evenly between qk and sv; with the LSB re-fetch
    bracket on, the re-fetching 1/6 recompute in requant; sv also pays the pipeline latency
    103 + ceil(197 / 8) = 128."""
    assert spatten.quantization.lsb_refetch_fraction == 0.0  # its own model charges none
    full = dataclasses.replace(
        spatten, pruning=dataclasses.replace(spatten.pruning, token_keep_ratios=(1.0,)),
        quantization=dataclasses.replace(spatten.quantization, lsb_refetch_fraction=0.167))
    fast = _bandwidth(full, 1e12)
    ops = _ops(simulate_spatten(trace_of(ONE_HEAD, [np.ones((1, 197, 197), bool)]), fast))
    ms = 1e-3 / fast.clock_mhz
    assert ops["qk"].latency_ms == pytest.approx(4925 / 2 * ms, rel=1e-6)
    assert ops["sv"].latency_ms == pytest.approx((4925 / 2 + 128) * ms, rel=1e-6)
    assert ops["requant"].latency_ms == pytest.approx(0.167 * 4925 * ms, rel=1e-6)


def test_spatten_with_lsb_refetch_is_slower(spatten, deit_tiny):
    """The bracket `vitsim compare` reports: re-fetching keys' LSBs adds DRAM bytes and a
    recompute, so SpAtten with it is slower and uses more energy than without."""
    from vitsim.analysis.compare import LSB_REFETCH_BRACKET

    on = dataclasses.replace(spatten, quantization=dataclasses.replace(
        spatten.quantization, lsb_refetch_fraction=LSB_REFETCH_BRACKET))
    base, refetch = simulate_spatten(deit_tiny, spatten), simulate_spatten(deit_tiny, on)
    assert "requant" not in _ops(base) and "requant" in _ops(refetch)
    assert refetch.latency_ms > base.latency_ms
    assert refetch.energy_mj > base.energy_mj


def test_topk_cycles_by_hand():
    """8 scores, keep 4, 4 compared a cycle, 4 cycles a round, 8 in or out a cycle: fill 1,
    rounds over 8, 4 and 2 candidates (2 + 4, 1 + 4, 1 + 4), drain 1: 18 cycles, 14 compared."""
    assert topk_cycles(8, 4, parallelism=4, round_overhead_cycles=4, io_per_cycle=8) == (18, 14)
    assert topk_cycles(8, 8, parallelism=4, round_overhead_cycles=4, io_per_cycle=8) == (0, 0)


def test_head_pruning(spatten, deit_tiny):
    half = dataclasses.replace(spatten, pruning=dataclasses.replace(
        spatten.pruning, head_keep_ratio=0.5))
    full_ops, half_ops = _ops(simulate_spatten(deit_tiny, spatten)), _ops(
        simulate_spatten(deit_tiny, half))
    assert half_ops["qk"].count == 2 * 12  # ceil(0.5 x 3) heads in each of 12 blocks
    assert half_ops["qk"].flops == pytest.approx(full_ops["qk"].flops * 2 / 3)
    assert half_ops["topk"].count == full_ops["topk"].count + 12  # one head top-k a block


@HYPOTHESIS
@given(keep=st.lists(st.floats(0.05, 1.0), min_size=1, max_size=12), cut=st.floats(0.1, 1.0))
def test_more_token_pruning_never_slows_spatten(keep, cut):
    spatten, trace = load_spatten(), _DEIT_TINY_90
    ratios = tuple(sorted(keep, reverse=True))
    less = dataclasses.replace(spatten, pruning=dataclasses.replace(
        spatten.pruning, token_keep_ratios=ratios))
    more = dataclasses.replace(spatten, pruning=dataclasses.replace(
        spatten.pruning, token_keep_ratios=tuple(r * cut for r in ratios)))
    assert simulate_spatten(trace, more).latency_ms <= simulate_spatten(
        trace, less).latency_ms * (1 + 1e-12)


def test_spatten_normalised_to_vitcod(spatten, vitcod, deit_tiny):
    norm = resolve_spatten(spatten, vitcod)
    assert (norm.units.qk_multipliers, norm.units.sv_multipliers) == (256, 256)
    assert norm.clock_mhz == 500 and norm.dram.bandwidth_gb_per_s == 76.8
    assert norm.buffers.k.size_kib == 53  # vitcod's
    assert norm.energy.mac_pj == pytest.approx(spatten.energy.mac_pj * 28 / 40)
    pub = simulate_spatten(deit_tiny, spatten)
    nrm = simulate_spatten(deit_tiny, spatten, normalise_to=vitcod)
    assert (pub.provenance["configuration"], nrm.provenance["configuration"]) == (
        "published", "normalised")
    assert nrm.latency_ms > 2 * pub.latency_ms
    assert sum(o.flops for o in nrm.operators) == sum(o.flops for o in pub.operators)


# --------------------------------------------------------------------------------------
# Both peers end to end
# --------------------------------------------------------------------------------------

_DEIT_TINY_90 = trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)


@pytest.mark.parametrize("which", ["sanger", "spatten"])
@pytest.mark.parametrize("normalised", [False, True])
def test_deit_tiny_end_to_end(which, normalised, vitcod, deit_tiny):
    cfg, run = ((load_sanger(), simulate_sanger) if which == "sanger"
                else (load_spatten(), simulate_spatten))
    result = run(deit_tiny, cfg, normalise_to=vitcod if normalised else None)
    assert result.kind is BaselineKind.ACCELERATOR and result.model == "deit-tiny"
    assert result.baseline == (f"{which}@vitcod" if normalised else which)
    assert result.latency_ms > 0 and result.energy_mj > 0
    assert all(o.stage in STAGES for o in result.operators)
    assert all(o.name.startswith(result.baseline + ":") for o in result.operators)
    assert math.fsum(o.latency_ms for o in result.operators) == pytest.approx(result.latency_ms)
    assert math.fsum(o.energy_mj for o in result.operators) == pytest.approx(result.energy_mj)
    components = {k: float(v) for k, v in result.provenance.items()
                  if k.startswith("energy_mj:")}
    assert sum(components.values()) == pytest.approx(result.energy_mj, rel=1e-5)
    stages = result.by_stage_ms()
    assert {"qkv", "qk", "softmax", "sv", "proj", "fc1", "fc2"} <= set(stages)
    doc = result.document()
    yaml.safe_dump(doc)  # plain data throughout
    assert doc["provenance"]["trace_hash"] == deit_tiny.content_hash()


def test_a_missing_price_is_an_error(sanger, deit_tiny):
    from vitsim.simulator.peers.sanger import PeerTally

    tally = PeerTally("x", 1000.0)
    tally.add_op("qk", "qk", compute_cycles=1.0, actions={"mac": 5})
    with pytest.raises(Exception, match="no energy for actions"):
        tally.energy_pj({}, 0.0)
    with pytest.raises(ValueError, match="unknown stage"):
        tally.add_op("x", "attention", compute_cycles=1.0)


@pytest.mark.parametrize(("name", "resolve"), [("sanger", resolve_sanger),
                                               ("spatten", resolve_spatten)])
def test_normalised_peers_share_the_designs_sram_basis(name, resolve):
    """Normalised to a design with a size-dependent SRAM model, a peer takes the design's
    buffers, so its SRAM is priced and leaks as the design's (one basis for a ratio);
    normalised to a design with tables, the peer's own table is scaled to the node."""
    from vitsim.hw_configs.sram import cacti_28nm

    cfg = load_peer(name)
    vitcod = load_hardware("vitcod")
    peer = resolve(cfg, vitcod)
    for buf in ("q", "k", "v", "output", "weight", "activation"):
        assert peer.energy.sram_read_pj_per_byte[buf] == vitcod.sram_pj_per_byte(buf, "read")
        assert peer.energy.sram_write_pj_per_byte[buf] == vitcod.sram_pj_per_byte(buf, "write")
    # the peer's physical SRAM: q, k, v (53 KiB) and output (108 KiB); no index buffer
    sram_leak = 3 * cacti_28nm(53).leakage_mw + cacti_28nm(108).leakage_mw
    released = load_hardware("vitcod-released")
    table_peer = resolve(cfg, released)
    assert peer.energy.leakage_mw == pytest.approx(table_peer.energy.leakage_mw + sram_leak)
    ratio = table_peer.energy.sram_read_pj_per_byte["q"] / cfg.energy.sram_read_pj_per_byte["q"]
    assert ratio == pytest.approx(table_peer.energy.mac_pj / cfg.energy.mac_pj)
