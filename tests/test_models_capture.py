"""Attention capture (streaming mean), pruning with the workloads' policies, and the trace."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from vitsim.errors import VitsimError  # noqa: E402
from vitsim.models.attention import attention_modules, set_masks  # noqa: E402
from vitsim.models.capture import AttentionRecorder, capture_attention, save_maps  # noqa: E402
from vitsim.models.pruning import load_kept_masks, prune_maps, save_masks  # noqa: E402
from vitsim.models.zoo import build_model  # noqa: E402
from vitsim.workloads.attention_maps import load_attention_maps  # noqa: E402
from vitsim.workloads.model_spec import build_levit, build_vit  # noqa: E402
from vitsim.workloads.pipeline import trace_attention_maps, trace_mask_file  # noqa: E402
from vitsim.workloads.prune import PruneMethod, PruningPolicy, prune_topk  # noqa: E402

TINY = build_vit("tiny", embed_dim=16, depth=2, n_heads=2, image_size=16, patch_size=4,
                 mlp_ratio=2.0, n_classes=5, in_channels=1)  # 17 tokens


def _loader(n: int, batch_size: int, seed: int = 0) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 16, 16, generator=gen)
    labels = torch.randint(0, 5, (n,), generator=gen)
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size)


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(TINY).eval()


def _naive_mean(model, loader) -> list[np.ndarray]:
    """Every per-image map kept, then averaged: what the streaming sum must equal."""
    per_image: list[list[np.ndarray]] = [[] for _ in attention_modules(model)]
    handles = [m.attn_probs.register_forward_hook(
        lambda _m, _i, out, i=i: per_image[i].extend(out.detach().double().numpy()))
        for i, m in enumerate(attention_modules(model))]
    with torch.no_grad():
        for images, _ in loader:
            model(images)
    for h in handles:
        h.remove()
    return [np.mean(np.stack(maps), axis=0) for maps in per_image]


def test_streaming_capture_equals_the_naive_mean() -> None:
    model = _model()
    loader = _loader(11, batch_size=4)  # batches of 4, 4, 3
    maps, n_images = capture_attention(model, loader)
    assert n_images == 11
    naive = _naive_mean(model, loader)
    for got, want in zip(maps, naive, strict=True):
        assert got.shape == (2, 17, 17) and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-6)


def test_capture_is_independent_of_batching_and_stops_at_max_images() -> None:
    model = _model()
    a, _ = capture_attention(model, _loader(12, batch_size=5))
    b, _ = capture_attention(model, _loader(12, batch_size=12))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9)
    part, n = capture_attention(model, _loader(12, batch_size=5), max_images=7)
    assert n == 7
    images = _loader(12, batch_size=12).dataset.tensors[0]
    first7, _ = capture_attention(model, [images[:7]])  # any iterable of image batches
    for x, y in zip(part, first7, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9)


def test_recorder_removes_its_hooks_and_needs_images() -> None:
    model = _model()
    with AttentionRecorder(model) as rec:
        pass
    assert all(not m.attn_probs._forward_hooks for m in attention_modules(model))
    with pytest.raises(VitsimError, match="no images"):
        rec.mean()


def test_capture_of_a_masked_model_is_zero_where_pruned(rng) -> None:
    model = _model()
    kept = [rng.random((2, 17, 17)) < 0.3 for _ in range(2)]
    for k in kept:
        k[:, :, 0] = True
    set_masks(model, kept)
    maps, _ = capture_attention(model, _loader(6, batch_size=3))
    for m, k in zip(maps, kept, strict=True):
        assert np.all(m[~k] == 0.0) and np.all(m[k] > 0.0)


def test_capture_prune_trace_end_to_end(tmp_path) -> None:
    model = _model()
    maps, n = capture_attention(model, _loader(10, batch_size=4))
    path = tmp_path / "maps.npz"
    save_maps(path, model, maps, n_images=n, meta={"data": "random"})
    loaded = load_attention_maps(path, TINY)  # the workloads' reader accepts it
    assert loaded.meta["n_images"] == 10 and loaded.meta["model"] == TINY.to_dict()

    masks = prune_maps(loaded.blocks, TINY, sparsity=0.7)
    assert abs((1 - masks.kept_density()) - 0.7) < 0.05
    for k in masks.blocks:  # CLS row and column kept, as in the workloads
        assert k[:, 0, :].all() and k[:, :, 0].all()
    # the masks the model is fine-tuned with are the masks `vitsim trace --maps` traces
    via_maps = trace_attention_maps(path, TINY, sparsity=0.7)
    save_masks(tmp_path / "masks.npz", masks.blocks)
    via_masks = trace_mask_file(tmp_path / "masks.npz", TINY, convention="kept")
    for name, arr in via_maps.attention.arrays().items():
        np.testing.assert_array_equal(arr, via_masks.attention.arrays()[name], err_msg=name)
    assert via_maps.meta["pruning"]["cutoff"] == masks.policy.param
    for got, want in zip(load_kept_masks(tmp_path / "masks.npz", TINY), masks.blocks,
                         strict=True):
        np.testing.assert_array_equal(got, want)

    set_masks(model, masks.blocks)  # and the model runs with them
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 16, 16)).shape == (1, 5)


def test_prune_with_an_explicit_policy_uses_the_workloads_policy(rng) -> None:
    maps = [rng.dirichlet(np.ones(17), size=(2, 17)) for _ in range(2)]
    masks = prune_maps(maps, TINY, policy=PruningPolicy(PruneMethod.TOPK, 3))
    for got, probs in zip(masks.blocks, maps, strict=True):
        np.testing.assert_array_equal(got, prune_topk(probs, 3))
    with pytest.raises(VitsimError, match="not both"):
        prune_maps(maps, TINY, sparsity=0.5, policy=PruningPolicy())
    with pytest.raises(VitsimError, match="does not fit"):
        prune_maps([m[:, :-1] for m in maps], TINY, sparsity=0.5)


def test_levit_capture_fits_its_spec(tmp_path) -> None:
    spec = build_levit("tiny-levit", embed_dims=(16, 24), key_dim=8, n_heads=(2, 3),
                       depths=(1, 1), image_size=64, n_classes=5)
    torch.manual_seed(0)
    model = build_model(spec)
    images = torch.randn(4, 3, 64, 64)
    maps, _ = capture_attention(model, [images[:2], images[2:]])
    save_maps(tmp_path / "levit.npz", model, maps, n_images=4)
    loaded = load_attention_maps(tmp_path / "levit.npz", spec)
    assert [b.shape for b in loaded.blocks] == [(2, 16, 16), (2, 4, 16), (3, 4, 4)]
    trace = trace_attention_maps(tmp_path / "levit.npz", spec, sparsity=0.5)
    assert trace.n_heads_total == 7


def test_pca_fit_of_the_autoencoders_beats_their_random_init() -> None:
    from vitsim.models.attention import reconstruction_loss, set_codecs
    from vitsim.models.capture import fit_codecs

    model = _model()
    loader = _loader(12, batch_size=6)
    with torch.no_grad():
        dense = torch.cat([model(x) for x, _ in loader])
    set_codecs(model, n_latent=2)  # ratio 1: PCA is a rotation, so exact
    assert fit_codecs(model, loader) == 12
    with torch.no_grad():
        torch.testing.assert_close(torch.cat([model(x) for x, _ in loader]), dense,
                                   rtol=1e-4, atol=1e-5)

    set_codecs(model, n_latent=1)  # 2 heads -> 1
    images = loader.dataset.tensors[0]
    with torch.no_grad():
        model(images)
        random_init = reconstruction_loss(model).item()
        fit_codecs(model, loader, max_images=12)
        model(images)
        fitted = reconstruction_loss(model).item()
    assert fitted < random_init
