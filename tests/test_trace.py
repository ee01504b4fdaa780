"""The workload trace: building, exact save/load round trips, and damaged files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vitsim.errors import TraceError, VitsimError
from vitsim.workloads.model_spec import default_polarize_threshold, get_spec
from vitsim.workloads.trace import SCHEMA_VERSION, PolarizePolicy, WorkloadTrace, build_trace


def _random_blocks(spec, rng, density=0.1):
    blocks = []
    for b in spec.blocks:
        kept = rng.random((b.n_heads, b.n_q_tokens, b.n_k_tokens)) < density
        if b.has_cls:
            kept[:, 0, :] = kept[:, :, 0] = True
        # a few dense columns, so that polarization finds global tokens
        kept[:, :, 1:4] |= rng.random((b.n_heads, b.n_q_tokens, 3)) < 0.6
        blocks.append(kept)
    return blocks


@pytest.fixture
def tiny(rng):
    spec = get_spec("deit-tiny")
    blocks = _random_blocks(spec, rng)
    return spec, blocks, build_trace(spec, blocks, meta={"source": {"kind": "test"}})


def _assert_same(a: WorkloadTrace, b: WorkloadTrace):
    assert a.spec == b.spec
    assert dict(a.meta) == dict(b.meta)
    arrays_a, arrays_b = a.attention.arrays(), b.attention.arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        assert arrays_a[name].dtype == arrays_b[name].dtype, name
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    assert a.content_hash() == b.content_hash()


# ------------------------------------------------------------------------------ building


def test_build_trace_matches_masks(tiny):
    spec, blocks, trace = tiny
    assert trace.n_heads_total == 36
    assert trace.meta["schema_version"] == SCHEMA_VERSION
    assert trace.meta["model"] == spec.to_dict()
    assert trace.meta["source"] == {"kind": "test"}
    total_kept = sum(int(b.sum()) for b in blocks)
    at = trace.attention
    # memory layout: one column index per kept score, nothing dense
    assert at.dense_indices.size + at.sparse_indices.size == total_kept
    assert int(at.dense_offsets[-1] + at.sparse_offsets[-1]) == total_kept
    assert at.perm.size == at.row_perm.size == 36 * 197
    assert trace.kept_density() == pytest.approx(total_kept / (36 * 197 * 197))
    seen = []
    for layer, h, head in trace.heads():
        kept = blocks[layer][h]
        seen.append((layer, h))
        assert head.n_global == int((kept.sum(axis=0) > 50).sum())
        np.testing.assert_array_equal(head.permuted_mask(),
                                      kept[np.ix_(head.row_perm, head.perm)])
    assert seen == [(layer, h) for layer in range(12) for h in range(3)]
    np.testing.assert_allclose(trace.head_density(),
                               [b[h].mean() for b in blocks for h in range(3)])


def test_arrays_are_read_only(tiny, tmp_path):
    _, _, trace = tiny
    path = tmp_path / "t.npz"
    trace.save(path)
    for t in (trace, WorkloadTrace.load(path)):
        for name, arr in t.attention.arrays().items():
            assert not arr.flags.writeable, name
            with pytest.raises(ValueError):
                arr[...] = 0


def test_save_load_round_trip_is_exact(tiny, tmp_path):
    _, _, trace = tiny
    path = tmp_path / "t.npz"
    trace.save(path)
    loaded = WorkloadTrace.load(path)
    _assert_same(trace, loaded)
    # and again: saving what was loaded writes the same trace
    path2 = tmp_path / "t2.npz"
    loaded.save(path2)
    _assert_same(loaded, WorkloadTrace.load(path2))


def test_content_hash_sees_every_change(tiny, rng):
    spec, blocks, trace = tiny
    same = build_trace(spec, blocks, meta={"source": {"kind": "test"}})
    assert same.content_hash() == trace.content_hash()
    assert build_trace(spec, blocks).content_hash() != trace.content_hash()
    flipped = [b.copy() for b in blocks]
    flipped[5][1, 7, 9] = not flipped[5][1, 7, 9]
    other = build_trace(spec, flipped, meta={"source": {"kind": "test"}})
    assert other.content_hash() != trace.content_hash()


def test_levit_trace_round_trips(rng, tmp_path):
    spec = get_spec("levit-128s")
    blocks = _random_blocks(spec, rng, density=0.2)
    trace = build_trace(spec, blocks)
    at = trace.attention
    assert trace.n_heads_total == spec.n_heads_total
    assert at.n_q.tolist() == [b.n_q_tokens for b in spec.blocks for _ in range(b.n_heads)]
    assert at.n_k.tolist() == [b.n_k_tokens for b in spec.blocks for _ in range(b.n_heads)]
    for layer, h, head in trace.heads():
        block = spec.blocks[layer]
        if not block.square:  # queries keep their order in subsampling blocks
            assert head.row_perm.tolist() == list(range(block.n_q_tokens))
        np.testing.assert_array_equal(head.permuted_mask(),
                                      blocks[layer][h][np.ix_(head.row_perm, head.perm)])
    path = tmp_path / "levit.npz"
    trace.save(path)
    _assert_same(trace, WorkloadTrace.load(path))


def test_polarize_disabled_gives_no_global_tokens(tiny):
    spec, blocks, _ = tiny
    trace = build_trace(spec, blocks, policy=PolarizePolicy(enabled=False))
    assert not trace.attention.n_global.any()
    assert trace.attention.dense_indices.size == 0
    assert trace.attention.sparse_indices.size == sum(int(b.sum()) for b in blocks)
    assert trace.meta["polarize"]["enabled"] is False


def test_polarize_threshold_scaling(tiny):
    spec, blocks, trace = tiny
    assert default_polarize_threshold(197) == 50
    explicit = build_trace(spec, blocks, policy=PolarizePolicy(threshold=50),
                           meta={"source": {"kind": "test"}})
    np.testing.assert_array_equal(explicit.attention.n_global, trace.attention.n_global)
    strict = build_trace(spec, blocks, policy=PolarizePolicy(threshold=150))
    assert (strict.attention.n_global <= trace.attention.n_global).all()


def test_polarize_policy_validation():
    with pytest.raises(VitsimError, match="not both"):
        PolarizePolicy(threshold=3, dense_fraction=0.5)
    with pytest.raises(VitsimError, match=">= 0"):
        PolarizePolicy(threshold=-1)


def test_build_trace_rejects_wrong_masks(rng):
    spec = get_spec("deit-tiny")
    blocks = _random_blocks(spec, rng)
    with pytest.raises(VitsimError, match="11 mask blocks") as info:
        build_trace(spec, blocks[:11])
    assert info.value.field == "blocks"
    with pytest.raises(VitsimError, match="more mask blocks") as info:
        build_trace(spec, [*blocks, blocks[0]])
    assert info.value.field == "blocks"
    with pytest.raises(VitsimError, match="expected") as info:
        build_trace(spec, [b[:2] for b in blocks])
    assert info.value.field == "block 0"


# ------------------------------------------------------------------------------ damaged files


def _rewrite(src: Path, dst: Path, *, meta=None, **changes) -> Path:
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    if meta is not None:
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return dst


@pytest.fixture
def saved(tiny, tmp_path):
    path = tmp_path / "good.npz"
    tiny[2].save(path)
    return path


def _load_error(path) -> TraceError:
    with pytest.raises(TraceError) as info:
        WorkloadTrace.load(path)
    err = info.value
    assert err.source == str(path)
    assert str(path) in str(err) and "\n" not in str(err)
    return err


def test_truncated_file(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        assert "trace" in _load_error(bad).message


def test_corrupted_member(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside an array: the archive opens, the CRC check fails
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(bytes(data))
    assert "not a readable trace" in _load_error(bad).message


def test_non_npz_files(tmp_path, rng):
    text = tmp_path / "notes.npz"
    text.write_text("this is not a trace\n", encoding="utf-8")
    _load_error(text)
    npy = tmp_path / "array.npz"  # a plain .npy array, e.g. a mask given by mistake
    with open(npy, "wb") as f:
        np.save(f, rng.random((3, 3)))
    assert "not an .npz" in _load_error(npy).message
    other = tmp_path / "other.npz"
    np.savez(other, block_0=np.zeros((1, 2, 2), bool))
    assert "no __meta__" in _load_error(other).message


def test_missing_file_and_directory(tmp_path):
    assert "no such" in _load_error(tmp_path / "absent.npz").message
    _load_error(tmp_path)


def test_wrong_schema_version(tiny, saved, tmp_path):
    meta = dict(tiny[2].meta, schema_version=SCHEMA_VERSION + 1)
    err = _load_error(_rewrite(saved, tmp_path / "v2.npz", meta=meta))
    assert err.field == "schema_version"
    assert str(SCHEMA_VERSION + 1) in err.message


def test_damaged_metadata(tiny, saved, tmp_path):
    meta = {k: v for k, v in tiny[2].meta.items() if k != "model"}
    assert _load_error(_rewrite(saved, tmp_path / "nomodel.npz", meta=meta)).field == "model"
    meta = dict(tiny[2].meta, model=dict(tiny[0].to_dict(), embed_dim="wide"))
    err = _load_error(_rewrite(saved, tmp_path / "badmodel.npz", meta=meta))
    assert err.field == "model.embed_dim" and "integer" in err.message
    meta = dict(tiny[2].meta, model={"name": "x", "family": "vit", "embed_dim": 192})
    err = _load_error(_rewrite(saved, tmp_path / "partmodel.npz", meta=meta))
    assert err.field in ("model.depth", "model.n_heads") and "missing" in err.message
    bad_json = _rewrite(saved, tmp_path / "json.npz",
                        __meta__=np.frombuffer(b"{not json", dtype=np.uint8))
    _load_error(bad_json)
    not_a_dict = _rewrite(saved, tmp_path / "list.npz", meta=[1, 2, 3])
    assert _load_error(not_a_dict).field == "__meta__"


def test_damaged_arrays(tiny, saved, tmp_path):
    at = tiny[2].attention
    dense_offsets = at.dense_offsets.copy()
    dense_offsets[5] = dense_offsets[6] + 1  # no longer non-decreasing
    cases = {
        "dense_offsets": dict(dense_offsets=dense_offsets),
        "sparse_offsets": dict(sparse_offsets=at.sparse_offsets[:-1]),
        "perm_offsets": dict(perm_offsets=at.perm_offsets + 1),
        "dense_indices": dict(dense_indices=at.dense_indices[:-1]),
        "sparse_row_nnz": dict(sparse_row_nnz=np.roll(at.sparse_row_nnz, 197)),
        "n_global": dict(n_global=at.n_global + 500),
        "head_index": dict(head_index=at.head_index[:-1]),
        "row_offsets": dict(row_offsets=at.row_offsets + np.r_[0, 0, 0, 1, np.zeros(33, int)]),
    }
    perm = at.perm.copy()
    perm[1] = perm[0]  # a key twice in head 0, another missing
    row_perm = at.row_perm.copy()
    row_perm[3] = 197  # out of range for a 197-query head
    dense_indices = at.dense_indices.copy()
    sparse_indices = at.sparse_indices.copy()
    h = int(np.argmax(np.diff(at.sparse_offsets) > 0))  # a head with sparse scores
    sparse_indices[at.sparse_offsets[h]] = at.n_global[h] - 1  # inside the global columns
    cases.update({
        "perm": dict(perm=perm),
        "row_perm": dict(row_perm=row_perm),
        "sparse_indices": dict(sparse_indices=sparse_indices),
    })
    for field, change in cases.items():
        err = _load_error(_rewrite(saved, tmp_path / f"{field}.npz", **change))
        assert err.field == field, (field, err)
    assert dense_indices.size
    dense_indices[0] = at.n_global[0] + 200  # beyond head 0's global columns
    err = _load_error(_rewrite(saved, tmp_path / "dense_range.npz", dense_indices=dense_indices))
    assert err.field == "dense_indices"
    err = _load_error(_rewrite(saved, tmp_path / "missing.npz", perm=None))
    assert "perm" in err.message


def test_trace_for_another_model(tiny, saved, tmp_path):
    meta = dict(tiny[2].meta, model=get_spec("deit-small").to_dict())
    err = _load_error(_rewrite(saved, tmp_path / "small.npz", meta=meta))
    assert err.field == "head_block"


# ------------------------------------------------------------------------------ atomic save


def test_failed_save_leaves_previous_file_and_no_temporary(tiny, saved, monkeypatch):
    before = saved.read_bytes()
    listing = sorted(os.listdir(saved.parent))

    def broken_savez(f, **arrays):
        f.write(b"half a trace")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        tiny[2].save(saved)
    assert saved.read_bytes() == before
    assert sorted(os.listdir(saved.parent)) == listing


def test_save_into_missing_directory(tiny, tmp_path):
    with pytest.raises(VitsimError, match="does not exist"):
        tiny[2].save(tmp_path / "nowhere" / "t.npz")
    assert not (tmp_path / "nowhere").exists()


def test_saved_file_has_the_usual_permissions(tiny, tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "t.npz"
    tiny[2].save(path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
