"""The synthetic attention generator: shapes, determinism, probabilities, pruning to a target."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitsim.errors import VitsimError
from vitsim.workloads.model_spec import BlockKind, build_levit, build_vit, get_spec
from vitsim.workloads.synthetic import (
    SyntheticParams,
    generate_block_probs,
    iter_block_probs,
    synthetic_masks,
)

ROW_SUM_TOL = 1e-5  # float32 softmax rows sum to 1 within a few ulps of 1


@pytest.fixture(scope="module")
def deit_tiny():
    return get_spec("deit-tiny")


@pytest.fixture(scope="module")
def levit_128s():
    return get_spec("levit-128s")


def _check_probs(block, probs):
    assert probs.shape == (block.n_heads, block.n_q_tokens, block.n_k_tokens)
    assert probs.dtype == np.float32
    assert np.all(probs >= 0.0)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=ROW_SUM_TOL)


def test_deit_tiny_shapes_and_rows(deit_tiny):
    blocks = list(iter_block_probs(deit_tiny, seed=0))
    assert len(blocks) == 12
    for block, probs in blocks:
        assert probs.shape == (3, 197, 197)
        _check_probs(block, probs)


def test_levit_shapes_including_subsample(levit_128s):
    kinds = []
    for block, probs in iter_block_probs(levit_128s, seed=0):
        _check_probs(block, probs)
        kinds.append(block.kind)
        if block.kind is BlockKind.SUBSAMPLE:
            assert probs.shape[1] < probs.shape[2]
    assert kinds.count(BlockKind.SUBSAMPLE) == 2
    shapes = [p.shape for _, p in iter_block_probs(levit_128s, seed=0)]
    assert (8, 49, 196) in shapes and (16, 16, 49) in shapes


def test_same_seed_same_arrays_and_blocks_regenerate_alone(deit_tiny):
    first = [p for _, p in iter_block_probs(deit_tiny, seed=7)]
    second = [p for _, p in iter_block_probs(deit_tiny, seed=7)]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    idx = 5
    alone = generate_block_probs(deit_tiny.blocks[idx], idx, deit_tiny.n_layers,
                                 np.random.default_rng([7, idx]), SyntheticParams())
    np.testing.assert_array_equal(alone, first[idx])


def test_different_seeds_differ(deit_tiny):
    a = next(iter_block_probs(deit_tiny, seed=0))[1]
    b = next(iter_block_probs(deit_tiny, seed=1))[1]
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("sparsity", [0.9, 0.95])
def test_masks_reach_target_sparsity_and_keep_cls(deit_tiny, sparsity):
    cutoff, masks = synthetic_masks(deit_tiny, sparsity, seed=0)
    assert 0.0 < cutoff < 1.0
    kept = total = n_blocks = 0
    for block, mask in zip(deit_tiny.blocks, masks, strict=True):
        assert mask.dtype == bool
        assert mask.shape == (block.n_heads, block.n_q_tokens, block.n_k_tokens)
        assert mask[:, 0, :].all() and mask[:, :, 0].all()
        kept += int(mask.sum())
        total += mask.size
        n_blocks += 1
    assert n_blocks == deit_tiny.n_layers
    assert abs((1.0 - kept / total) - sparsity) < 0.005


def test_levit_masks_prune_without_cls(levit_128s):
    _, mask_iter = synthetic_masks(levit_128s, 0.9, seed=3)
    masks = list(mask_iter)
    assert len(masks) == levit_128s.n_layers
    kept = sum(int(m.sum()) for m in masks)
    total = sum(m.size for m in masks)
    assert abs((1.0 - kept / total) - 0.9) < 0.005
    # Without a CLS token nothing is forced: some first row or column entry is pruned.
    assert any(not m[:, 0, :].all() for m in masks)


def _local_only(**extra):
    """Only the local Gaussian: every patch's most probable key is its own position."""
    return SyntheticParams(
        sink_head_fraction_first=0.0, sink_head_fraction_last=0.0, local_logit_first=5.0,
        local_logit_last=5.0, diag_logit=0.0, diag_logit_sd=0.0, cls_logit=0.0,
        cls_logit_sd=0.0, key_saliency_sd=0.0, noise_sd=0.0, **extra,
    )


def test_local_term_peaks_at_the_query_position(deit_tiny, levit_128s, rng):
    probs = generate_block_probs(deit_tiny.blocks[0], 0, 12, rng, _local_only())
    patch_argmax = probs[:, 1:, :].argmax(axis=-1)
    np.testing.assert_array_equal(patch_argmax, np.broadcast_to(np.arange(1, 197), (3, 196)))
    # LeViT subsampling: query (i, j) of the 7x7 grid sits at key (2i, 2j) of the 14x14 grid.
    block = next(b for b in levit_128s.blocks if b.kind is BlockKind.SUBSAMPLE)
    probs = generate_block_probs(block, 2, levit_128s.n_layers, rng, _local_only())
    i, j = np.divmod(np.arange(49), 7)
    np.testing.assert_array_equal(probs.argmax(axis=-1),
                                  np.broadcast_to(2 * i * 14 + 2 * j, (8, 49)))


@pytest.mark.parametrize("field,value", [
    ("sink_head_fraction_last", 1.5), ("sink_count_first", 0.0), ("noise_sd", -1.0),
    ("local_width_patches", 0.0),
])
def test_bad_params_raise(field, value):
    with pytest.raises(VitsimError, match=field):
        SyntheticParams(**{field: value})


def test_layer_outside_model_raises(deit_tiny):
    with pytest.raises(VitsimError, match="layer"):
        generate_block_probs(deit_tiny.blocks[0], 12, 12, np.random.default_rng(0),
                             SyntheticParams())


_SMALL_SPECS = (
    build_vit("tiny-vit", embed_dim=16, depth=3, n_heads=2, image_size=64, patch_size=16),
    build_levit("tiny-levit", embed_dims=(16, 32), key_dim=8, n_heads=(2, 2), depths=(1, 1),
                image_size=96),
)
_logit = st.floats(-8.0, 8.0)
_spread = st.floats(0.0, 2.0)
_params = st.builds(
    SyntheticParams,
    sink_head_fraction_first=st.floats(0.0, 1.0), sink_head_fraction_last=st.floats(0.0, 1.0),
    sink_count_first=st.floats(0.1, 50.0), sink_count_last=st.floats(0.1, 50.0),
    sink_count_log_sd=_spread, sink_logit=_logit, sink_logit_sd=_spread,
    local_logit_first=_logit, local_logit_last=_logit,
    local_width_patches=st.floats(0.05, 10.0), local_width_log_sd=_spread,
    diag_logit=_logit, diag_logit_sd=_spread, cls_logit=_logit, cls_logit_sd=_spread,
    key_saliency_sd=_spread, noise_sd=_spread, head_sharpness_log_sd=_spread,
    row_sharpness_log_sd=_spread,
)


@settings(max_examples=30, deadline=None)
@given(params=_params, seed=st.integers(0, 2**32 - 1), which=st.sampled_from(_SMALL_SPECS))
def test_any_params_give_probabilities(params, seed, which):
    for block, probs in iter_block_probs(which, seed, params):
        _check_probs(block, probs)
    again = [p for _, p in iter_block_probs(which, seed, params)]
    for (_, a), b in zip(iter_block_probs(which, seed, params), again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SyntheticParams().noise_sd = 2.0  # type: ignore[misc]
