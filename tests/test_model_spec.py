"""Model shapes: closed-form token counts and GEMM shapes of the zoo, and strict YAML specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vitsim.errors import ConfigError, VitsimError
from vitsim.workloads.model_spec import (
    BlockKind,
    Gemm,
    get_spec,
    known_models,
    load_spec,
    spec_from_dict,
)

# name: (embed_dim, n_heads, depth) from DeiT Table 1 / ViT Table 1
VIT_TABLE = {
    "deit-tiny": (192, 3, 12),
    "deit-small": (384, 6, 12),
    "deit-base": (768, 12, 12),
    "vit-l16": (1024, 16, 24),
}
# name: (embed_dims, key_dim, n_heads, depths) from LeViT Table 1
LEVIT_TABLE = {
    "levit-128s": ((128, 256, 384), 16, (4, 6, 8), (2, 3, 4)),
    "levit-128": ((128, 256, 384), 16, (4, 8, 12), (4, 4, 4)),
    "levit-192": ((192, 288, 384), 32, (3, 5, 6), (4, 4, 4)),
    "levit-256": ((256, 384, 512), 32, (4, 6, 8), (4, 4, 4)),
}


def _gemms(block) -> dict[str, Gemm]:
    return {g.name: g for g in (*block.linear_gemms(), *block.attention_gemms())}


# ------------------------------------------------------------------------------ ViT / DeiT


@pytest.mark.parametrize("name", sorted(VIT_TABLE))
def test_vit_zoo_closed_form(name):
    embed, heads, depth = VIT_TABLE[name]
    spec = get_spec(name)
    head_dim = embed // heads
    assert spec.family == "vit"
    assert spec.n_tokens == 197  # (224 / 16)^2 patches + CLS
    assert spec.n_layers == depth
    assert spec.n_heads_total == depth * heads
    assert spec.uniform
    for block in spec.blocks:
        assert block.kind is BlockKind.SELF and block.has_cls
        assert (block.n_q_tokens, block.n_k_tokens, block.n_heads) == (197, 197, heads)
        assert (block.qk_dim, block.v_dim) == (head_dim, head_dim)
        g = _gemms(block)
        assert set(g) == {"qkv", "proj", "fc1", "fc2", "qk", "sv"}
        assert (g["qkv"].m, g["qkv"].k, g["qkv"].n) == (197, embed, 3 * embed)
        assert (g["proj"].m, g["proj"].k, g["proj"].n) == (197, embed, embed)
        assert (g["fc1"].m, g["fc1"].k, g["fc1"].n) == (197, embed, 4 * embed)
        assert (g["fc2"].m, g["fc2"].k, g["fc2"].n) == (197, 4 * embed, embed)
        assert all(g[n].operand == "weight" for n in ("qkv", "proj", "fc1", "fc2"))
        # Q K^T and S V of every head: 197 x head_dim x 197 and 197 x 197 x head_dim MACs
        assert g["qk"].operand == g["sv"].operand == "activation"
        assert g["qk"].count == g["sv"].count == heads
        assert g["qk"].macs // heads == 197 * head_dim * 197
        assert g["sv"].macs // heads == 197 * 197 * head_dim
    stem, head = spec.stem_gemms[0], spec.head_gemms[0]
    assert (stem.m, stem.k, stem.n) == (196, 3 * 16 * 16, embed)
    assert (head.m, head.k, head.n) == (1, embed, 1000)


def test_deit_tiny_gemms_exactly():
    block = get_spec("deit-tiny").blocks[0]
    assert block.linear_gemms() == (
        Gemm("qkv", 197, 192, 576),
        Gemm("proj", 197, 192, 192),
        Gemm("fc1", 197, 192, 768),
        Gemm("fc2", 197, 768, 192),
    )
    qk, sv = block.attention_gemms()
    assert qk.macs == 3 * 197 * 64 * 197
    assert sv.macs == 3 * 197 * 197 * 64


def test_vit_h14_at_518():
    spec = get_spec("vit-h14@518")
    assert spec.n_tokens == (518 // 14) ** 2 + 1 == 1370
    assert spec.n_layers == 32
    assert {b.n_heads for b in spec.blocks} == {16}
    block = spec.blocks[0]
    assert (block.qk_dim, block.mlp_hidden) == (80, 5120)
    assert _gemms(block)["qkv"].n == 3 * 1280
    # the default size is 224 px: 16 x 16 patches of 14 px
    assert get_spec("vit-h14").n_tokens == 257
    assert get_spec("vit-h14", image_size=518) == spec


def test_vit_l16():
    spec = get_spec("vit-l16")
    assert (spec.n_tokens, spec.n_layers, spec.blocks[0].n_heads) == (197, 24, 16)
    g = _gemms(spec.blocks[0])
    assert (g["fc1"].k, g["fc1"].n) == (1024, 4096)


def test_model_size_suffix_must_be_an_integer():
    with pytest.raises(VitsimError, match="not an integer") as info:
        get_spec("vit-h14@big")
    assert info.value.source == "--model"


# ------------------------------------------------------------------------------ LeViT


@pytest.mark.parametrize("name", sorted(LEVIT_TABLE))
def test_levit_zoo_closed_form(name):
    dims, key_dim, heads, depths = LEVIT_TABLE[name]
    spec = get_spec(name)
    assert spec.family == "levit"
    assert not spec.uniform
    assert spec.n_layers == sum(depths) + 2
    assert all(not b.has_cls for b in spec.blocks)
    self_blocks = [b for b in spec.blocks if b.kind is BlockKind.SELF]
    subsample = [b for b in spec.blocks if b.kind is BlockKind.SUBSAMPLE]
    assert [(b.n_q_tokens, b.n_k_tokens) for b in subsample] == [(49, 196), (16, 49)]
    stage_tokens = (196, 49, 16)
    i = 0
    for stage, depth in enumerate(depths):
        if stage:
            sub = spec.blocks[i]
            assert sub is subsample[stage - 1]
            assert sub.in_dim == dims[stage - 1] and sub.out_dim == dims[stage]
            assert sub.n_heads == dims[stage - 1] // key_dim
            assert (sub.qk_dim, sub.v_dim) == (key_dim, 4 * key_dim)
            g = _gemms(sub)
            nh = sub.n_heads
            assert (g["kv"].m, g["kv"].k, g["kv"].n) == (
                sub.n_k_tokens, dims[stage - 1], nh * key_dim + nh * 4 * key_dim)
            assert (g["q"].m, g["q"].k, g["q"].n) == (sub.n_q_tokens, dims[stage - 1],
                                                      nh * key_dim)
            assert (g["proj"].k, g["proj"].n) == (nh * 4 * key_dim, dims[stage])
            assert g["qk"].macs == sub.n_q_tokens * key_dim * sub.n_k_tokens * nh
            assert g["sv"].macs == sub.n_q_tokens * sub.n_k_tokens * 4 * key_dim * nh
            i += 1
        for _ in range(depth):
            b = spec.blocks[i]
            assert b in self_blocks
            n = stage_tokens[stage]
            assert (b.n_q_tokens, b.n_k_tokens) == (n, n)
            assert (b.n_heads, b.qk_dim, b.v_dim) == (heads[stage], key_dim, 2 * key_dim)
            assert (b.in_dim, b.out_dim, b.mlp_hidden) == (dims[stage], dims[stage],
                                                           2 * dims[stage])
            g = _gemms(b)
            assert (g["qkv"].m, g["qkv"].k, g["qkv"].n) == (
                n, dims[stage], heads[stage] * (2 * key_dim + 2 * key_dim))
            i += 1
    assert i == spec.n_layers
    assert [g.m for g in spec.stem_gemms] == [112**2, 56**2, 28**2, 14**2]
    assert spec.stem_gemms[-1].n == dims[0]
    assert (spec.head_gemms[0].k, spec.head_gemms[0].n) == (dims[-1], 2000)


def test_levit_128s_head_counts():
    spec = get_spec("levit-128s")
    assert [b.n_heads for b in spec.blocks] == [4, 4, 8, 6, 6, 6, 16, 8, 8, 8, 8]
    assert spec.n_tokens == 196  # no CLS token


# ------------------------------------------------------------------------------ zoo


def test_unknown_zoo_name_lists_known_ones():
    with pytest.raises(VitsimError) as info:
        get_spec("deit-huge")
    msg = str(info.value)
    assert "deit-huge" in msg and "\n" not in msg
    for name in known_models():
        assert name in msg


@pytest.mark.parametrize("name", [*known_models(), "vit-h14@518"])
def test_spec_round_trips_through_its_dict(name, tmp_path):
    spec = get_spec(name)
    assert spec_from_dict(spec.to_dict()) == spec
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.to_dict()), encoding="utf-8")
    assert load_spec(path) == spec


# ------------------------------------------------------------------------------ YAML specs


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_vit_spec_loads(tmp_path):
    path = _write(tmp_path, "name: my-vit\nfamily: vit\nembed_dim: 96\ndepth: 2\nn_heads: 2\n"
                            "image_size: 64\npatch_size: 8\nmlp_ratio: 2\n")
    spec = get_spec(str(path))
    assert (spec.name, spec.n_layers, spec.n_tokens) == ("my-vit", 2, 65)
    g = _gemms(spec.blocks[0])
    assert (g["qkv"].n, g["fc1"].n) == (288, 192)
    assert spec == load_spec(path)


def test_user_levit_spec_loads(tmp_path):
    path = _write(tmp_path, "name: my-levit\nfamily: levit\nembed_dims: [64, 128]\n"
                            "key_dim: 16\nn_heads: [2, 4]\ndepths: [1, 2]\n")
    spec = load_spec(path)
    assert spec.family == "levit"
    assert [(b.n_q_tokens, b.n_k_tokens, b.n_heads) for b in spec.blocks] == [
        (196, 196, 2), (49, 196, 4), (49, 49, 4), (49, 49, 4)]


VIT_BASE = "name: bad\nfamily: vit\nembed_dim: 96\ndepth: 2\nn_heads: 2\n"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (VIT_BASE + "emed_dim: 3\n", "emed_dim", ["unknown key", "allowed:", "embed_dim",
                                                  "mlp_ratio"]),
        (VIT_BASE + "key_dim: 16\n", "key_dim", ["unknown key", "allowed:", "embed_dim"]),
        (VIT_BASE.replace("n_heads: 2\n", ""), "n_heads", ["missing"]),
        (VIT_BASE.replace("name: bad\n", ""), "name", ["missing"]),
        (VIT_BASE.replace("family: vit\n", ""), "family", ["missing"]),
        (VIT_BASE.replace("embed_dim: 96", "embed_dim: ninety"), "embed_dim", ["integer"]),
        (VIT_BASE.replace("embed_dim: 96", "embed_dim: 96.0"), "embed_dim", ["integer"]),
        (VIT_BASE.replace("embed_dim: 96", "embed_dim: true"), "embed_dim", ["integer"]),
        (VIT_BASE.replace("depth: 2", "depth: -2"), "depth", ["positive"]),
        (VIT_BASE + "mlp_ratio: big\n", "mlp_ratio", ["number"]),
        (VIT_BASE.replace("family: vit", "family: swin"), "family", ["swin", "vit, levit"]),
        (VIT_BASE + "depth: 3\n", "depth", ["duplicate", "line 6"]),
        (VIT_BASE.replace("n_heads: 2", "n_heads: 5"), "embed_dim", ["divisible"]),
        ("name: bad\nfamily: levit\nembed_dims: 64\nkey_dim: 16\nn_heads: [2]\ndepths: [1]\n",
         "embed_dims", ["list of positive integers"]),
        ("name: bad\nfamily: levit\nembed_dims: [64, 128]\nkey_dim: 16\nn_heads: [2]\n"
         "depths: [1]\n", "embed_dims", ["one entry per stage"]),
        ("name: bad\nfamily: levit\nembed_dims: [64]\nkey_dim: 16\nn_heads: [2]\n"
         "depths: [1]\npatch_size: 16\n", "patch_size", ["unknown key", "down_attn_ratio"]),
    ],
)
def test_bad_yaml_spec_is_one_line_naming_file_and_key(tmp_path, text, key, words):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        get_spec(str(path))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    assert f"{key}:" in msg
    for word in words:
        assert word in msg


def test_unknown_key_lists_each_allowed_key_once(tmp_path):
    path = _write(tmp_path, VIT_BASE + "emed_dim: 3\n")
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    allowed = str(info.value).split("allowed: ", 1)[1].split(", ")
    assert len(allowed) == len(set(allowed))
    assert "key_dim" not in allowed  # a LeViT key is not allowed in a ViT spec


def test_bad_yaml_spec_reports_every_problem_at_once(tmp_path):
    path = _write(tmp_path, "name: bad\nfamily: vit\nembed_dim: x\ndepth: 2\nwidth: 3\n")
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    fields = {f for f, _ in info.value.problems}
    assert fields == {"embed_dim", "width", "n_heads"}
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "name: [a\n"])
def test_non_mapping_or_malformed_yaml_spec(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_missing_yaml_spec(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="no such file") as info:
        get_spec(str(path))
    assert str(path) in str(info.value)
