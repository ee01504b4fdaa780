"""One entry point from a model spec (or a zoo name) to a torch model, and the default device.

    model = build_model("deit-tiny")             # VisionTransformer, timm's key layout
    model = build_model(get_spec("levit-128"))   # LeViT
    model = build_model(build_vit("my-vit", embed_dim=64, depth=4, n_heads=4, image_size=32,
                                  patch_size=4, n_classes=10, in_channels=1))
"""

from __future__ import annotations

import torch
from torch import nn

from vitsim.errors import VitsimError
from vitsim.workloads.model_spec import ModelSpec, get_spec


def default_device() -> torch.device:
    """CUDA when a GPU is visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means :func:`default_device`; a named CUDA device must exist."""
    if device is None:
        return default_device()
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VitsimError("no CUDA device is available", source="--device")
    return dev


def model_spec(model: nn.Module) -> ModelSpec:
    """The :class:`ModelSpec` a model was built from (``model.spec``)."""
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise VitsimError(f"{type(model).__name__} was not built from a ModelSpec",
                          field="model")
    return spec


def build_model(spec: ModelSpec | str) -> nn.Module:
    """A freshly initialised model for ``spec`` (a ``ModelSpec``, zoo name or spec .yaml).

    The model keeps its spec as ``model.spec``; its attention modules are in the order of
    ``spec.blocks``.
    """
    from vitsim.models.levit import LeViT
    from vitsim.models.vit import VisionTransformer

    if isinstance(spec, str):
        spec = get_spec(spec)
    if spec.family == "vit":
        return VisionTransformer(spec)
    if spec.family == "levit":
        return LeViT(spec)
    raise VitsimError(f"no torch model for family {spec.family!r}; known: vit, levit",
                      field="family")
