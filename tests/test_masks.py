"""Mask files: conventions, formats, and every way a file can be unusable."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from vitsim.errors import MaskError
from vitsim.workloads.masks import MaskConvention, load_masks
from vitsim.workloads.model_spec import build_vit, get_spec

# A small ViT: 2 layers, 2 heads, 4 x 4 patches + CLS = 17 tokens.
SMALL = build_vit("small-test", embed_dim=32, depth=2, n_heads=2, image_size=64,
                  patch_size=16)
N = 17


def _pruned(rng, density=0.3) -> np.ndarray:
    """A ViTCoD-style mask [layers, heads, N, N], True = pruned, CLS row and column kept."""
    kept = rng.random((2, 2, N, N)) < density
    kept[:, :, 0, :] = kept[:, :, :, 0] = True
    return ~kept


def _load_error(path, spec=SMALL, **kwargs) -> MaskError:
    with pytest.raises(MaskError) as info:
        load_masks(path, spec, **kwargs)
    err = info.value
    assert err.source == str(path)
    assert str(path) in str(err) and "\n" not in str(err)
    return err


# ------------------------------------------------------------------------------ conventions


def test_npy_pruned_convention(rng, tmp_path):
    pruned = _pruned(rng)
    path = tmp_path / "m.npy"
    np.save(path, pruned)
    masks = load_masks(path, SMALL)  # pruned is the default, as in ViTCoD's files
    assert masks.convention is MaskConvention.PRUNED
    assert masks.n_blocks == 2 and masks.source == str(path)
    for i, block in enumerate(masks.blocks()):
        assert block.dtype == np.bool_
        np.testing.assert_array_equal(block, ~pruned[i])
    assert masks.kept_density() == pytest.approx((~pruned).mean())


def test_npy_kept_convention(rng, tmp_path):
    kept = ~_pruned(rng)
    path = tmp_path / "m.npy"
    np.save(path, kept)
    masks = load_masks(path, SMALL, convention="kept")
    for i, block in enumerate(masks.blocks()):
        np.testing.assert_array_equal(block, kept[i])
    # the two conventions are complements of each other
    as_pruned = load_masks(path, SMALL, convention=MaskConvention.PRUNED)
    for a, b in zip(masks.blocks(), as_pruned.blocks(), strict=True):
        np.testing.assert_array_equal(a, ~b)


def test_block_does_not_alias_the_file_data(rng, tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, ~_pruned(rng))
    masks = load_masks(path, SMALL, convention="kept")
    block = masks.block(0)
    block[...] = False
    assert masks.block(0).any()


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.float32])
def test_zero_one_arrays(rng, tmp_path, dtype):
    pruned = _pruned(rng)
    path = tmp_path / "m.npy"
    np.save(path, pruned.astype(dtype))
    for got, want in zip(load_masks(path, SMALL).blocks(), ~pruned, strict=True):
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, want)


def test_npz_single_array(rng, tmp_path):
    pruned = _pruned(rng)
    path = tmp_path / "m.npz"
    np.savez(path, anything=pruned)
    for got, want in zip(load_masks(path, SMALL).blocks(), ~pruned, strict=True):
        np.testing.assert_array_equal(got, want)


def test_npz_block_arrays(rng, tmp_path):
    pruned = _pruned(rng)
    path = tmp_path / "m.npz"
    # stored out of order; the LeViT test below has block_10 (numeric, not text, order)
    np.savez(path, block_1=pruned[1], block_0=pruned[0])
    for got, want in zip(load_masks(path, SMALL).blocks(), ~pruned, strict=True):
        np.testing.assert_array_equal(got, want)


def test_npz_block_arrays_for_levit(rng, tmp_path):
    spec = get_spec("levit-128s")
    blocks = {f"block_{i}": rng.random((b.n_heads, b.n_q_tokens, b.n_k_tokens)) < 0.2
              for i, b in enumerate(spec.blocks)}
    path = tmp_path / "levit.npz"
    np.savez(path, **blocks)
    masks = load_masks(path, spec, convention="kept")
    assert masks.n_blocks == 11
    for i, got in enumerate(masks.blocks()):
        np.testing.assert_array_equal(got, blocks[f"block_{i}"])


def test_real_mask(real_mask_path):
    masks = load_masks(real_mask_path, get_spec("deit-tiny"))
    assert masks.n_blocks == 12
    assert f"{masks.kept_density():.4g}" == "0.05325"
    for block in masks.blocks():
        assert block.shape == (3, 197, 197)
        assert block[:, 0, :].all() and block[:, :, 0].all()


# ------------------------------------------------------------------------------ bad files


def test_rejects_values_other_than_zero_one(rng, tmp_path):
    path = tmp_path / "probs.npy"
    np.save(path, rng.random((2, 2, N, N)))
    err = _load_error(path)
    assert err.field == "block 0" and "0 and 1" in err.message
    path = tmp_path / "twos.npy"
    np.save(path, _pruned(rng).astype(np.int8) * 2)
    assert _load_error(path).field == "block 0"


def test_rejects_non_numeric(tmp_path):
    path = tmp_path / "str.npy"
    np.save(path, np.full((2, 2, N, N), "x"))
    err = _load_error(path)
    assert err.field == "block 0" and "dtype" in err.message


def test_rejects_wrong_rank(rng, tmp_path):
    path = tmp_path / "rank3.npy"
    np.save(path, _pruned(rng)[0])
    err = _load_error(path)
    assert err.field == "array" and "4-D" in err.message
    path = tmp_path / "rank2.npz"
    np.savez(path, block_0=np.zeros((N, N), bool), block_1=np.zeros((N, N), bool))
    assert _load_error(path).field == "block 0"


def test_rejects_non_square(rng, tmp_path):
    path = tmp_path / "nonsq.npy"
    np.save(path, _pruned(rng)[:, :, :, :-1])
    err = _load_error(path)
    assert err.field == "block 0" and "not square" in err.message


def test_rejects_wrong_layer_count(rng, tmp_path):
    path = tmp_path / "layers.npy"
    np.save(path, _pruned(rng)[:1])
    err = _load_error(path)
    assert err.field == "layers" and "1 layers" in err.message and "has 2" in err.message


def test_rejects_wrong_heads(rng, tmp_path):
    path = tmp_path / "heads.npy"
    np.save(path, _pruned(rng)[:, :1])
    err = _load_error(path)
    assert err.field == "block 0" and "(2, 17, 17)" in err.message


def test_rejects_wrong_token_count(rng, tmp_path, real_mask_path):
    err = _load_error(real_mask_path, get_spec("deit-tiny@384"))
    assert err.field == "block 0" and "does not fit" in err.message


def test_rejects_truncated_npy(rng, tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, _pruned(rng))
    data = good.read_bytes()
    for cut in (20, 100, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.npy"
        bad.write_bytes(data[:cut])
        assert "not a readable" in _load_error(bad).message


def test_rejects_text_renamed_npy(tmp_path):
    path = tmp_path / "notes.npy"
    path.write_text("layer,head,mask\n0,0,1\n", encoding="utf-8")
    assert "not a readable" in _load_error(path).message


def test_rejects_missing_file_and_directory(tmp_path):
    assert "no such file" in _load_error(tmp_path / "absent.npy").message
    assert "directory" in _load_error(tmp_path).message


def test_rejects_bad_npz(rng, tmp_path):
    pruned = _pruned(rng)
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    assert "no array" in _load_error(empty).message
    gap = tmp_path / "gap.npz"
    np.savez(gap, block_0=pruned[0], block_2=pruned[1])
    assert _load_error(gap).field == "block_*"
    two = tmp_path / "two.npz"
    np.savez(two, a=pruned, b=pruned)
    assert "one array" in _load_error(two).message
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(two.read_bytes()[:500])
    _load_error(truncated)


def test_unknown_convention(rng, tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, _pruned(rng))
    with pytest.raises(MaskError, match="pruned, kept") as info:
        load_masks(path, SMALL, convention="dropped")
    assert info.value.source == "--convention"


# ------------------------------------------------------------------------------ CLS warning


def test_cls_not_kept_warns(rng, tmp_path, caplog):
    kept = ~_pruned(rng)
    kept[1, 0, 5, 0] = False  # layer 1, head 0 drops one CLS-column score
    path = tmp_path / "m.npy"
    np.save(path, kept)
    with caplog.at_level(logging.WARNING, logger="vitsim.workloads.masks"):
        load_masks(path, SMALL, convention="kept")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage() and "block 1" in warnings[0].getMessage()


def test_wrong_convention_warns_on_real_mask(real_mask_path, caplog):
    with caplog.at_level(logging.WARNING, logger="vitsim.workloads.masks"):
        load_masks(real_mask_path, get_spec("deit-tiny"), convention="kept")
    assert len(caplog.records) == 12  # every block: CLS looks pruned under the wrong reading
    assert all("convention" in r.getMessage() for r in caplog.records)


def test_cls_kept_does_not_warn(rng, tmp_path, caplog):
    path = tmp_path / "m.npy"
    np.save(path, _pruned(rng))
    with caplog.at_level(logging.WARNING, logger="vitsim.workloads.masks"):
        load_masks(path, SMALL)
    assert not caplog.records


def test_no_cls_warning_for_levit(rng, tmp_path, caplog):
    spec = get_spec("levit-128s")
    path = tmp_path / "levit.npz"
    np.savez(path, **{f"block_{i}": np.zeros((b.n_heads, b.n_q_tokens, b.n_k_tokens), bool)
                      for i, b in enumerate(spec.blocks)})
    with caplog.at_level(logging.WARNING, logger="vitsim.workloads.masks"):
        load_masks(path, spec, convention="kept")
    assert not caplog.records
