"""Checkpoints: timm-layout weights in, vitsim checkpoints (weights + fixed masks) out.

Two kinds of file are read, both with ``torch.load(weights_only=True)`` (no arbitrary pickle):

- **timm / DeiT checkpoints**: a state dict in timm's key layout (``cls_token``, ``pos_embed``,
  ``patch_embed.proj.weight``, ``blocks.0.attn.qkv.weight`` ...), bare or wrapped under
  ``model`` / ``state_dict`` as DeiT's releases are. They carry no model description, so the
  caller gives the spec.
- **vitsim checkpoints**, written by :func:`save_checkpoint`: ``{"model": state_dict,
  "vitsim": {...}}`` where the ``vitsim`` section holds the format version, the model spec's
  parameters, the fixed kept masks (bool tensors ``[n_heads, n_q, n_k]`` per block, or None)
  and the latent heads of each block's Q/K auto-encoder. Its weights are timm's layout plus
  ``blocks.<i>.attn.qk_codec.*`` when the model has auto-encoders.

Loading is strict: a missing key, an unexpected key or a shape that differs is a
:class:`VitsimError` naming the keys and the file.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vitsim.atomic import atomic_output
from vitsim.errors import VitsimError
from vitsim.models.attention import codec_latent_heads, get_masks, restore_codecs, set_masks
from vitsim.models.zoo import build_model, model_spec, resolve_device
from vitsim.workloads.model_spec import ModelSpec, spec_from_dict

CHECKPOINT_FORMAT = 1
_WRAPPERS = ("model", "state_dict", "model_state_dict")  # where releases nest the state dict
_MAX_NAMED_KEYS = 12  # keys named in an error before "and N more"


def _name_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_NAMED_KEYS])
    more = len(keys) - _MAX_NAMED_KEYS
    return f"{shown} and {more} more" if more > 0 else shown


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The state dict of a checkpoint file and its ``vitsim`` section (None for timm files)."""
    src = str(path)
    if not Path(path).is_file():
        raise VitsimError("no such checkpoint file", source=src)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VitsimError(f"not a readable torch checkpoint ({reason})", source=src) from None
    if not isinstance(obj, dict):
        raise VitsimError(f"expected a state dict, found {type(obj).__name__}", source=src)
    section = obj.get("vitsim") if isinstance(obj.get("vitsim"), dict) else None
    state = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), obj)
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise VitsimError(f"entries that are not tensors: {_name_keys(sorted(map(str, bad)))}",
                          source=src)
    return state, section


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Raise, naming the keys, unless ``state`` has exactly the model's keys and shapes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing keys: {_name_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_name_keys(unexpected)}")
    if not problems:
        wrong = [f"{k} {tuple(state[k].shape)} (model: {tuple(v.shape)})"
                 for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
        if wrong:
            problems.append(f"shapes differ: {_name_keys(wrong)}")
    if problems:
        name = getattr(getattr(model, "spec", None), "name", type(model).__name__)
        raise VitsimError(f"does not fit model {name}: " + "; ".join(problems), source=source)


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a checkpoint's weights (timm layout) into ``model``, strictly; returns ``model``."""
    state, _ = read_checkpoint(path)
    check_state_dict(model, state, source=str(path))
    model.load_state_dict(state)
    return model


def save_checkpoint(path: str | Path, model: nn.Module, *,
                    meta: dict[str, Any] | None = None) -> None:
    """Write ``model`` (weights, spec, fixed masks, auto-encoders) atomically to ``path``.

    ``meta`` (JSON-like values) is stored alongside, e.g. how the model was trained.
    """
    spec = model_spec(model)
    masks = get_masks(model)
    section = {
        "format_version": CHECKPOINT_FORMAT,
        "spec": spec.to_dict(),
        "masks": None if masks is None else [torch.from_numpy(m.copy()) for m in masks],
        "codec_latent_heads": codec_latent_heads(model),
        "meta": dict(meta or {}),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_output(path, suffix=".pt") as tmp:
        torch.save({"model": state, "vitsim": section}, tmp)


def load_checkpoint(path: str | Path, *, spec: ModelSpec | None = None,
                    device: str | torch.device | None = None) -> nn.Module:
    """A model from a vitsim checkpoint, or from a timm checkpoint and ``spec``.

    A vitsim checkpoint rebuilds its own spec, masks and auto-encoders (a given ``spec`` must
    then match it). The model is returned in eval mode on ``device`` (default: CUDA if present).
    """
    src = str(path)
    state, section = read_checkpoint(path)
    if section is not None:
        if section.get("format_version") != CHECKPOINT_FORMAT:
            raise VitsimError(f"checkpoint format {section.get('format_version')!r}; this "
                              f"vitsim reads {CHECKPOINT_FORMAT}", source=src,
                              field="vitsim.format_version")
        stored = spec_from_dict(section.get("spec"), source=f"{src} (spec)")
        if spec is not None and spec != stored:
            raise VitsimError(f"the checkpoint holds model {stored.name}, not {spec.name}",
                              source=src, field="vitsim.spec")
        spec = stored
    elif spec is None:
        raise VitsimError("a timm checkpoint carries no model description; give the model "
                          "(--model)", source=src)
    model = build_model(spec)
    if section is not None:
        if section.get("codec_latent_heads") is not None:
            restore_codecs(model, list(section["codec_latent_heads"]))
        masks = section.get("masks")
        if masks is not None:
            try:
                set_masks(model, [np.asarray(m.numpy(), dtype=bool) for m in masks])
            except VitsimError as err:
                raise VitsimError(err.message, source=src, field=f"vitsim.masks.{err.field}"
                                  ) from None
    check_state_dict(model, state, source=src)
    model.load_state_dict(state)
    return model.to(resolve_device(device)).eval()


def checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` a vitsim checkpoint was saved with ({} for timm files)."""
    _, section = read_checkpoint(path)
    return dict(section.get("meta") or {}) if section else {}
