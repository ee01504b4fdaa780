"""The torch models: shapes from the spec, timm's layout, fixed-mask attention, the auto-encoder."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vitsim.errors import VitsimError  # noqa: E402
from vitsim.models.attention import (  # noqa: E402
    QKAutoEncoder,
    attention_modules,
    codec_latent_heads,
    default_latent_heads,
    get_masks,
    reconstruction_loss,
    set_codecs,
    set_masks,
)
from vitsim.models.levit import LeViT  # noqa: E402
from vitsim.models.vit import VisionTransformer  # noqa: E402
from vitsim.models.zoo import build_model, default_device  # noqa: E402
from vitsim.workloads.model_spec import build_levit, build_vit, get_spec  # noqa: E402

TINY = build_vit("tiny", embed_dim=16, depth=2, n_heads=2, image_size=16, patch_size=4,
                 mlp_ratio=2.0, n_classes=5, in_channels=1)  # 16 patches + CLS = 17 tokens
TINY_LEVIT = build_levit("tiny-levit", embed_dims=(16, 24), key_dim=8, n_heads=(2, 3),
                         depths=(1, 1), image_size=64, n_classes=5)  # 16 then 4 tokens


def _images(spec, n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    c = int(spec.params["in_channels"])
    return torch.randn(n, c, spec.image_size, spec.image_size, generator=gen)


def _random_kept(spec, rng: np.random.Generator, density: float = 0.3) -> list[np.ndarray]:
    kept = []
    for b in spec.blocks:
        k = rng.random((b.n_heads, b.n_q_tokens, b.n_k_tokens)) < density
        k[:, :, 0] = True  # every row keeps a score
        kept.append(k)
    return kept


# ------------------------------------------------------------------------------ shapes


def test_vit_shapes_follow_the_spec() -> None:
    torch.manual_seed(0)
    model = build_model(TINY)
    assert isinstance(model, VisionTransformer) and model.spec is TINY
    assert model(_images(TINY, 3)).shape == (3, 5)
    assert model.forward_features(_images(TINY, 2)).shape == (2, 17, 16)
    attn = attention_modules(model)
    assert [(m.n_heads, m.n_q_tokens, m.n_k_tokens) for m in attn] == [(2, 17, 17)] * 2
    # every linear layer has the width of the spec's GEMM
    gemms = dict((f"{blk}.{g.name}", g) for blk, g in TINY.linear_gemms())
    blk0 = model.blocks[0]
    for name, layer in (("qkv", blk0.attn.qkv), ("proj", blk0.attn.proj),
                        ("fc1", blk0.mlp.fc1), ("fc2", blk0.mlp.fc2)):
        g = gemms[f"blocks.0.{name}"]
        assert (layer.in_features, layer.out_features) == (g.k, g.n)


def test_deit_parameter_counts_match_timm() -> None:
    # timm's deit_{tiny,small,base}_patch16_224 have these many parameters
    for name, count in (("deit-tiny", 5_717_416), ("deit-small", 22_050_664),
                        ("deit-base", 86_567_656)):
        with torch.device("meta"):  # shapes only: nothing allocated or initialised
            model = build_model(name)
        assert sum(p.numel() for p in model.parameters()) == count


def test_deit_tiny_runs_at_224() -> None:
    model = build_model("deit-tiny").eval()
    with torch.no_grad():
        assert model(_images(get_spec("deit-tiny"), 1)).shape == (1, 1000)


def test_vit_state_dict_has_timm_keys() -> None:
    spec = build_vit("one", embed_dim=8, depth=1, n_heads=2, image_size=8, patch_size=4,
                     n_classes=3, in_channels=1)
    expected = {
        "cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
        "blocks.0.norm1.weight", "blocks.0.norm1.bias", "blocks.0.attn.qkv.weight",
        "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias",
        "blocks.0.norm2.weight", "blocks.0.norm2.bias", "blocks.0.mlp.fc1.weight",
        "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
        "norm.weight", "norm.bias", "head.weight", "head.bias",
    }
    model = build_model(spec)
    set_masks(model, _random_kept(spec, np.random.default_rng(0)))
    assert set(model.state_dict()) == expected  # masks are not weights


def test_wrong_image_size_is_a_clear_error() -> None:
    model = build_model(TINY)
    with pytest.raises(VitsimError, match="image size"):
        model(torch.zeros(1, 1, 32, 32))


def test_levit_builds_from_spec_and_runs() -> None:
    torch.manual_seed(0)
    model = build_model(TINY_LEVIT).eval()
    assert isinstance(model, LeViT)
    with torch.no_grad():
        assert model(_images(TINY_LEVIT, 2)).shape == (2, 5)
    shapes = [(m.n_heads, m.n_q_tokens, m.n_k_tokens) for m in attention_modules(model)]
    assert shapes == [(b.n_heads, b.n_q_tokens, b.n_k_tokens) for b in TINY_LEVIT.blocks]
    assert shapes == [(2, 16, 16), (2, 4, 16), (3, 4, 4)]


@pytest.mark.parametrize("name", ["levit-128s", "levit-128", "levit-192", "levit-256"])
def test_levit_zoo_models_run_at_224(name: str) -> None:
    spec = get_spec(name)
    model = build_model(spec).eval()
    with torch.no_grad():
        assert model(_images(spec, 1)).shape == (1, 1000)
    assert len(attention_modules(model)) == spec.n_layers


def test_family_mismatch_is_an_error() -> None:
    with pytest.raises(VitsimError, match="not levit"):
        LeViT(TINY)
    assert default_device().type in ("cpu", "cuda")


# ------------------------------------------------------------------------------ fixed masks


def _reference_attention(attn, x: torch.Tensor, kept: np.ndarray | None) -> torch.Tensor:
    """The textbook computation: qkv split, scores, -inf where pruned, softmax, proj."""
    b, n, c = x.shape
    h = attn.n_heads
    d = c // h
    qkv = x @ attn.qkv.weight.T + attn.qkv.bias
    q, k, v = (qkv[..., i * c:(i + 1) * c].reshape(b, n, h, d).transpose(1, 2)
               for i in range(3))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if kept is not None:
        scores = torch.where(torch.from_numpy(kept), scores, torch.tensor(float("-inf")))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).reshape(b, n, c) @ attn.proj.weight.T + attn.proj.bias


def test_masked_attention_equals_dense_attention_with_minus_inf(rng) -> None:
    torch.manual_seed(0)
    model = build_model(TINY)
    attn = model.blocks[0].attn
    x = torch.randn(3, 17, 16)
    kept = _random_kept(TINY, rng)[0]
    with torch.no_grad():
        dense = attn(x)
        torch.testing.assert_close(dense, _reference_attention(attn, x, None))
        attn.set_mask(kept)
        masked = attn(x)
        torch.testing.assert_close(masked, _reference_attention(attn, x, kept))
    assert not torch.allclose(masked, dense)


def test_pruned_scores_get_exactly_zero_probability(rng) -> None:
    model = build_model(TINY)
    kept = _random_kept(TINY, rng)
    set_masks(model, kept)
    seen = []
    handle = model.blocks[1].attn.attn_probs.register_forward_hook(
        lambda _m, _i, out: seen.append(out.detach()))
    with torch.no_grad():
        model(_images(TINY, 2))
    handle.remove()
    probs = seen[0].numpy()
    assert np.all(probs[:, ~kept[1]] == 0.0)
    assert np.all(probs[:, kept[1]] > 0.0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_all_kept_mask_changes_nothing() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    x = _images(TINY, 2)
    with torch.no_grad():
        dense = model(x)
        set_masks(model, [np.ones((b.n_heads, b.n_q_tokens, b.n_k_tokens), bool)
                          for b in TINY.blocks])
        torch.testing.assert_close(model(x), dense, rtol=0, atol=0)


def test_bad_masks_are_rejected(rng) -> None:
    model = build_model(TINY)
    kept = _random_kept(TINY, rng)
    kept[1][0, 5, :] = False
    with pytest.raises(VitsimError, match="block_1: head 0 row 5 keeps no score"):
        set_masks(model, kept)
    with pytest.raises(VitsimError, match="mask shape"):
        set_masks(model, [k[:, :-1] for k in kept])
    with pytest.raises(VitsimError, match="1 mask blocks for 2"):
        set_masks(model, kept[:1])


def test_masks_round_trip_and_clear(rng) -> None:
    model = build_model(TINY)
    assert get_masks(model) is None
    kept = _random_kept(TINY, rng)
    set_masks(model, kept)
    for got, want in zip(get_masks(model), kept, strict=True):
        np.testing.assert_array_equal(got, want)
    set_masks(model, None)
    assert get_masks(model) is None


def test_levit_accepts_masks_on_subsampling_blocks(rng) -> None:
    model = build_model(TINY_LEVIT).eval()
    x = _images(TINY_LEVIT, 2)
    with torch.no_grad():
        dense = model(x)
        set_masks(model, _random_kept(TINY_LEVIT, rng))
        masked = model(x)
    assert masked.shape == dense.shape and not torch.allclose(masked, dense)


# ------------------------------------------------------------------------------ auto-encoder


def test_latent_heads_default_is_ceil_half() -> None:
    assert [default_latent_heads(h) for h in (1, 2, 3, 4, 6, 12)] == [1, 1, 2, 2, 3, 6]
    codec = QKAutoEncoder(3)
    q = torch.randn(2, 3, 5, 4)
    q_lat, k_lat = codec.encode(q, q)
    assert q_lat.shape == k_lat.shape == (2, 2, 5, 4)
    q_hat, k_hat, loss = codec(q, q)
    assert q_hat.shape == k_hat.shape == q.shape and loss.ndim == 0 and loss.item() > 0
    with pytest.raises(VitsimError, match="latent heads"):
        QKAutoEncoder(3, 4)


def test_autoencoder_at_ratio_one_with_identity_weights_is_exact() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    x = _images(TINY, 2)
    with torch.no_grad():
        dense = model(x)
        set_codecs(model, n_latent=2)
        for m in attention_modules(model):
            for layer in (m.qk_codec.encoder_q, m.qk_codec.decoder_q, m.qk_codec.encoder_k,
                          m.qk_codec.decoder_k):
                layer.weight.copy_(torch.eye(2))
                layer.bias.zero_()
        coded = model(x)
    torch.testing.assert_close(coded, dense, rtol=0, atol=0)
    assert float(reconstruction_loss(model)) == 0.0


def test_autoencoder_changes_the_model_and_reports_its_loss() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).train()
    x = _images(TINY, 2)
    dense = model(x).detach()
    assert reconstruction_loss(model) is None
    set_codecs(model)  # 2 heads -> 1
    assert codec_latent_heads(model) == [1, 1]
    out = model(x)
    loss = reconstruction_loss(model)
    assert loss is not None and loss.item() > 0
    assert not torch.allclose(out, dense)
    loss.backward()  # the loss reaches the codec's weights
    assert model.blocks[0].attn.qk_codec.encoder_q.weight.grad is not None
    set_codecs(model, enabled=False)
    assert codec_latent_heads(model) == [None, None]
