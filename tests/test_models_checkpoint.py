"""Checkpoints: timm-layout files load strictly; vitsim checkpoints round-trip exactly."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vitsim.errors import VitsimError  # noqa: E402
from vitsim.models.attention import codec_latent_heads, get_masks, set_codecs, set_masks  # noqa: E402
from vitsim.models.checkpoint import (  # noqa: E402
    checkpoint_meta,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from vitsim.models.zoo import build_model  # noqa: E402
from vitsim.workloads.model_spec import build_vit  # noqa: E402

TINY = build_vit("tiny", embed_dim=16, depth=2, n_heads=2, image_size=16, patch_size=4,
                 mlp_ratio=2.0, n_classes=5, in_channels=1)  # 17 tokens


def _timm_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict written key by key in timm's ViT layout, independent of our modules."""
    gen = torch.Generator().manual_seed(seed)
    d, hidden, n_tok = 16, 32, 17
    shapes = {"cls_token": (1, 1, d), "pos_embed": (1, n_tok, d),
              "patch_embed.proj.weight": (d, 1, 4, 4), "patch_embed.proj.bias": (d,),
              "norm.weight": (d,), "norm.bias": (d,), "head.weight": (5, d), "head.bias": (5,)}
    for i in range(2):
        shapes.update({
            f"blocks.{i}.norm1.weight": (d,), f"blocks.{i}.norm1.bias": (d,),
            f"blocks.{i}.attn.qkv.weight": (3 * d, d), f"blocks.{i}.attn.qkv.bias": (3 * d,),
            f"blocks.{i}.attn.proj.weight": (d, d), f"blocks.{i}.attn.proj.bias": (d,),
            f"blocks.{i}.norm2.weight": (d,), f"blocks.{i}.norm2.bias": (d,),
            f"blocks.{i}.mlp.fc1.weight": (hidden, d), f"blocks.{i}.mlp.fc1.bias": (hidden,),
            f"blocks.{i}.mlp.fc2.weight": (d, hidden), f"blocks.{i}.mlp.fc2.bias": (d,),
        })
    return {k: torch.randn(*s, generator=gen) * 0.1 for k, s in shapes.items()}


def _images(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 1, 16, 16, generator=torch.Generator().manual_seed(1))


def test_timm_checkpoint_loads_bare_and_wrapped(tmp_path) -> None:
    state = _timm_state_dict()
    torch.save(state, tmp_path / "bare.pth")
    torch.save({"model": state}, tmp_path / "deit_style.pth")  # how DeiT releases nest it
    a = load_weights(build_model(TINY), tmp_path / "bare.pth")
    b = load_checkpoint(tmp_path / "deit_style.pth", spec=TINY, device="cpu")
    for key, value in state.items():
        assert torch.equal(a.state_dict()[key], value)
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(_images()), b(_images()), rtol=0, atol=0)


def test_missing_and_extra_keys_are_named_with_the_file(tmp_path) -> None:
    state = _timm_state_dict()
    del state["blocks.1.attn.qkv.bias"]
    del state["norm.weight"]
    state["dist_token"] = torch.zeros(1, 1, 16)
    state["head_dist.weight"] = torch.zeros(5, 16)
    path = tmp_path / "deit_distilled.pth"
    torch.save(state, path)
    with pytest.raises(VitsimError) as err:
        load_weights(build_model(TINY), path)
    msg = str(err.value)
    assert "\n" not in msg and err.value.source == str(path)
    assert msg == (f"{path}: does not fit model tiny: missing keys: blocks.1.attn.qkv.bias, "
                   "norm.weight; unexpected keys: dist_token, head_dist.weight")


def test_shape_mismatch_is_named(tmp_path) -> None:
    state = _timm_state_dict()
    state["head.weight"] = torch.zeros(1000, 16)
    torch.save(state, tmp_path / "wrong.pth")
    with pytest.raises(VitsimError, match=r"shapes differ: head.weight \(1000, 16\) "
                                          r"\(model: \(5, 16\)\)"):
        load_checkpoint(tmp_path / "wrong.pth", spec=TINY)


def test_unreadable_files_and_missing_spec(tmp_path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(VitsimError, match="not a readable torch checkpoint"):
        load_checkpoint(junk, spec=TINY)
    with pytest.raises(VitsimError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pth", spec=TINY)
    torch.save(_timm_state_dict(), tmp_path / "timm.pth")
    with pytest.raises(VitsimError, match="give the model"):
        load_checkpoint(tmp_path / "timm.pth")


def test_save_and_reload_gives_identical_outputs(tmp_path, rng) -> None:
    torch.manual_seed(0)
    model = build_model(TINY)
    kept = [rng.random((2, 17, 17)) < 0.4 for _ in range(2)]
    for k in kept:
        k[:, :, 0] = True
    set_masks(model, kept)
    set_codecs(model)
    with torch.no_grad():  # weights away from their init, so nothing matches by accident
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.eval()
    path = tmp_path / "pruned.pt"
    save_checkpoint(path, model, meta={"epoch": 3})
    again = load_checkpoint(path, device="cpu")
    assert again.spec == TINY and codec_latent_heads(again) == [1, 1]
    for got, want in zip(get_masks(again), kept, strict=True):
        np.testing.assert_array_equal(got, want)
    with torch.no_grad():
        torch.testing.assert_close(again(_images()), model(_images()), rtol=0, atol=0)
    assert checkpoint_meta(path) == {"epoch": 3}
    with pytest.raises(VitsimError, match="holds model tiny"):
        load_checkpoint(path, spec=build_vit("other", embed_dim=16, depth=1, n_heads=2,
                                             image_size=16, patch_size=4))
