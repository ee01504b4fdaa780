"""The operators a framework runs for a ViT: what a CPU or GPU baseline executes.

**The operator list** (:func:`platform_operators`) is what PyTorch eager code of a ViT
(timm-style) launches for one inference, in execution order, one :class:`PlatformOp` per
kernel group and block:

- linear layers (``linear:patch_embed``, ``linear:qkv`` / ``linear:q`` / ``linear:kv``,
  ``linear:proj``, ``linear:fc1``, ``linear:fc2``, ``linear:classifier``; LeViT's stem
  convolutions ``linear:stem.conv1`` ...), bias included;
- the attention products of all heads batched: ``attention:qk`` and ``attention:sv``; the
  element-wise ``attention:scale``, LeViT's ``attention:bias``, and in ``dense_masked`` mode
  with a sparse mask ``attention:mask`` (a ``masked_fill`` with the fixed mask);
- ``softmax``, ``layernorm:ln1`` / ``layernorm:ln2`` / ``layernorm:final``, activations
  (``activation:gelu`` / ``activation:hardswish``, LeViT's ``activation:stem`` and
  ``activation:proj_in``), residual adds (``add:residual_attn``, ``add:residual_mlp``,
  ``add:pos_embed``), LeViT's ``reduce:pool``;
- the memory-bound copies between layouts: ``copy:patch_tokens``, ``copy:qkv_heads`` (the
  per-head q, k, v that ``q @ k.transpose`` makes contiguous), ``copy:heads_merge``,
  LeViT's ``copy:subsample``.

LeViT's batch norms are taken as folded into the preceding linear layers (inference), so
they are not operators. Each op carries its FLOPs and its compulsory DRAM bytes: every input

Attention modes: ``dense_masked`` (default; what frameworks do with a fixed mask) computes
every score and masks; ``sparse_kernel`` computes only kept scores (SDDMM, SpMM, softmax over
the kept values), so work and bytes scale with the kept density (a ``sparsity`` argument, or
a :class:`~vitsim.workloads.trace.WorkloadTrace`'s kept scores per block).

The same list is priced by :mod:`~vitsim.simulator.baselines.roofline` and timed with torch by
``vitsim baseline measure`` (:mod:`~vitsim.simulator.baselines.profile`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.platforms import AttentionMode, OpClass, Precision
from vitsim.simulator.baselines.result import OperatorTime
from vitsim.simulator.counts import STAGES
from vitsim.workloads.model_spec import BlockKind, BlockSpec, ModelSpec, Norm

if TYPE_CHECKING:
    from vitsim.workloads.trace import WorkloadTrace

__all__ = ["PlatformOp", "aggregate_times", "attention_mode_of", "block_densities",
           "platform_operators"]

# Operations per element of the element-wise operators: one per arithmetic operation or
# transcendental call in the defining formula (a transcendental costs more instructions than
# one; the elementwise compute efficiency of a platform absorbs that).
SCALE_OPS = 1  # x * s
BIAS_OPS = 1  # x + b
MASK_OPS = 1  # select(mask, -inf, x)
ADD_OPS = 1  # a + b
SOFTMAX_OPS = 5  # max, subtract, exp, sum, divide
LAYERNORM_OPS = 8  # mean (add), variance (subtract, square, add), normalize (subtract,
# multiply by rsqrt), affine (multiply, add)
GELU_OPS = 5  # 0.5 * x * (1 + erf(x / sqrt 2)): scale, erf, add, multiply, multiply
HARDSWISH_OPS = 5  # x * min(max(x + 3, 0), 6) / 6: add, max, min, multiply, divide
POOL_OPS = 1  # mean over tokens: one add per element
# Index bytes of a CSR mask: int32 column indices and row pointers (torch, cuSPARSE default).
INDEX_BYTES = 4
# The fixed mask of dense_masked mode is a bool tensor: one byte per score.
MASK_BYTES = 1

_ACTIVATION_OPS = {"gelu": GELU_OPS, "hardswish": HARDSWISH_OPS}

# ---------------------------------------------------------------------------------------------
# The operator list


@dataclass(frozen=True)
class PlatformOp:
    """One operator (kernel group) of one block, as a framework launches it.

    ``kind`` says what it computes (``linear``, ``conv``, ``qk``, ``sv``, ``sddmm``, ``spmm``,
    ``softmax``, ``layernorm``, ``activation``, ``add``, ``scale``, ``bias``, ``mask``,
    ``split_heads``, ``merge_heads``, ``tokens``, ``subsample``, ``pool``) and ``dims`` its
    shape, so that a measurement can run it; ``inputs`` and ``outputs`` name the activations
    it reads and writes (the data flow of the forward pass). ``block`` is the block index,
    -1 for the stem and ``n_layers`` for the head. ``flops`` counts a multiply-add as 2;
    ``dram_bytes`` is the compulsory traffic at the given precision.
    """

    name: str
    stage: str
    op_class: OpClass
    kind: str
    block: int
    flops: float
    dram_bytes: float
    kernels: int = 1
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    dims: tuple[tuple[str, Any], ...] = ()

    def dim(self, key: str) -> Any:
        return dict(self.dims)[key]

    @property
    def dims_dict(self) -> dict[str, Any]:
        return dict(self.dims)


class _OpList:
    """Builds the op list of one model; every op is checked against the stage vocabulary."""

    def __init__(self, batch: int, elem: int) -> None:
        self.batch = batch
        self.e = elem
        self.ops: list[PlatformOp] = []

    def add(self, name: str, stage: str, op_class: OpClass, kind: str, block: int, *,
            flops: float, elems: float, extra_bytes: float = 0.0, kernels: int = 1,
            inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = (),
            **dims: Any) -> None:
        assert stage in STAGES, stage
        self.ops.append(PlatformOp(
            name=name, stage=stage, op_class=op_class, kind=kind, block=block,
            flops=float(flops), dram_bytes=float(elems * self.e + extra_bytes),
            kernels=kernels, inputs=inputs, outputs=outputs, dims=tuple(dims.items())))

    # -- operator families ------------------------------------------------------------------

    def linear(self, name: str, stage: str, block: int, t: int, k: int, n: int, *,
               src: str, dst: str) -> None:
        """``[B, t, k] x [k, n] + bias``: weights read once per batch."""
        b = self.batch
        self.add(f"linear:{name}", stage, OpClass.GEMM, "linear", block,
                 flops=2.0 * b * t * k * n + b * t * n,
                 elems=b * t * k + k * n + n + b * t * n,
                 inputs=(src,), outputs=(dst,), b=b, t=t, k=k, n=n)

    def conv(self, name: str, block: int, *, c_in: int, size_in: int, c_out: int,
             kernel: int, stride: int, padding: int, src: str, dst: str) -> None:
        """A 2-D convolution as the GEMM it is (``[B * out pixels, c_in k^2] x [c_in k^2,
        c_out]`` + bias); the image is read once (non-overlapping patches read it exactly
        once; a 3x3 stride-2 convolution reads each input pixel about 2.25 times from
        cache, once from DRAM)."""
        b = self.batch
        size_out = (size_in + 2 * padding - kernel) // stride + 1
        m, k = size_out * size_out, c_in * kernel * kernel
        self.add(f"linear:{name}", "patch_embed", OpClass.GEMM, "conv", block,
                 flops=2.0 * b * m * k * c_out + b * m * c_out,
                 elems=b * c_in * size_in * size_in + k * c_out + c_out + b * m * c_out,
                 inputs=(src,), outputs=(dst,), b=b, c_in=c_in, size_in=size_in,
                 c_out=c_out, kernel=kernel, stride=stride, padding=padding)

    def elementwise(self, name: str, stage: str, kind: str, block: int, numel: float,
                    ops_per_elem: int, *, reads: int = 1, extra_elems: float = 0.0,
                    extra_bytes: float = 0.0, inputs: tuple[str, ...] = (),
                    outputs: tuple[str, ...] = (), **dims: Any) -> None:
        """``reads`` full-size inputs and one full-size output, plus broadcast operands."""
        self.add(name, stage, OpClass.ELEMENTWISE, kind, block,
                 flops=float(ops_per_elem) * numel, elems=(reads + 1) * numel + extra_elems,
                 extra_bytes=extra_bytes, inputs=inputs, outputs=outputs, **dims)

    def copy(self, name: str, stage: str, kind: str, block: int, numel_in: float,
             numel_out: float, *, kernels: int = 1, inputs: tuple[str, ...] = (),
             outputs: tuple[str, ...] = (), **dims: Any) -> None:
        self.add(name, stage, OpClass.ELEMENTWISE, kind, block, flops=0.0,
                 elems=numel_in + numel_out, kernels=kernels, inputs=inputs,
                 outputs=outputs, **dims)


def attention_mode_of(value: AttentionMode | str) -> AttentionMode:
    try:
        return AttentionMode(value)
    except ValueError:
        allowed = ", ".join(m.value for m in AttentionMode)
        raise VitsimError(f"{value!r} is not one of: {allowed}", source="attention mode") \
            from None


def _check_density(density: float, what: str) -> float:
    if not (isinstance(density, (int, float)) and 0.0 <= density <= 1.0
            and math.isfinite(density)):
        raise VitsimError(f"kept density must be in [0, 1], got {density!r}", source=what)
    return float(density)


def block_densities(trace: WorkloadTrace) -> tuple[float, ...]:
    """Kept density of each block of ``trace``: kept scores over ``heads x n_q x n_k``."""
    at = trace.attention
    n_blocks = trace.spec.n_layers
    kept = np.bincount(at.head_block, weights=(at.dense_nnz() + at.sparse_nnz()),
                       minlength=n_blocks)
    total = np.bincount(at.head_block, weights=at.n_q.astype(np.float64) * at.n_k,
                        minlength=n_blocks)
    return tuple(float(k / t) if t else 0.0 for k, t in zip(kept, total, strict=True))


def platform_operators(
    spec: ModelSpec,
    *,
    batch: int = 1,
    attention_mode: AttentionMode | str = AttentionMode.DENSE_MASKED,
    kept_density: float | Sequence[float] = 1.0,
    precision: Precision | str = Precision.FP32,
) -> tuple[PlatformOp, ...]:
    """The operators a framework runs for one batch of ``spec``, in execution order.

    Parameters
    ----------
    batch
        Images per inference (>= 1).
    attention_mode
        ``dense_masked``: dense attention, plus a mask op when ``kept_density < 1``;
        ``sparse_kernel``: attention over the kept scores only.
    kept_density
        Kept fraction of the attention scores (1 - sparsity), one value or one per block.
    precision
        Decides the bytes per element (fp32: 4, fp16: 2).
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise VitsimError(f"batch must be a positive integer, got {batch!r}", source="--batch")
    mode = attention_mode_of(attention_mode)
    elem = Precision(precision).bytes_per_element
    if isinstance(kept_density, (int, float)):
        densities = (_check_density(kept_density, "kept density"),) * spec.n_layers
    else:
        densities = tuple(_check_density(d, "kept density") for d in kept_density)
        if len(densities) != spec.n_layers:
            raise VitsimError(f"{len(densities)} block densities for {spec.n_layers} blocks",
                              source="kept density")
    ops = _OpList(batch, elem)
    _stem(ops, spec)
    for i, (block, density) in enumerate(zip(spec.blocks, densities, strict=True)):
        _block(ops, spec, i, block, mode, density)
    _head(ops, spec)
    return tuple(ops.ops)


def _stem(ops: _OpList, spec: ModelSpec) -> None:
    b = ops.batch
    p = spec.params
    if spec.family == "vit":
        (gemm,) = spec.stem_gemms
        patch, d, c_in = int(p["patch_size"]), gemm.n, int(p["in_channels"])
        ops.conv("patch_embed", -1, c_in=c_in, size_in=spec.image_size, c_out=d,
                 kernel=patch, stride=patch, padding=0, src="image", dst="patches")
        n_tok = spec.n_tokens
        # flatten(2).transpose(1, 2) is a view; torch.cat with the CLS token copies both.
        ops.copy("copy:patch_tokens", "patch_embed", "tokens", -1, b * gemm.m * d,
                 b * n_tok * d, inputs=("patches",), outputs=("x",), b=b, c=d,
                 hw=gemm.m, cls=1)
        ops.elementwise("add:pos_embed", "patch_embed", "add", -1, b * n_tok * d, ADD_OPS,
                        extra_elems=n_tok * d, inputs=("x", "pos_embed"), outputs=("x",),
                        b=b, t=n_tok, d=d, broadcast=1)
        return
    # LeViT: 3x3 stride-2 convolutions with hardswish between them.
    size, c_in = spec.image_size, int(p["in_channels"])
    last = len(spec.stem_gemms) - 1
    src = "image"
    for i, gemm in enumerate(spec.stem_gemms):
        dst = f"stem{i}"
        ops.conv(gemm.name, -1, c_in=c_in, size_in=size, c_out=gemm.n, kernel=3, stride=2,
                 padding=1, src=src, dst=dst)
        size = (size - 1) // 2 + 1
        c_in, src = gemm.n, dst
        if i < last:
            ops.elementwise("activation:stem", "patch_embed", "activation", -1,
                            ops.batch * gemm.m * gemm.n, HARDSWISH_OPS, inputs=(src,),
                            outputs=(src,), fn="hardswish", size=ops.batch * gemm.m * gemm.n)
    ops.copy("copy:patch_tokens", "patch_embed", "tokens", -1, b * size * size * c_in,
             b * size * size * c_in, inputs=(src,), outputs=("x",), b=b, c=c_in,
             hw=size * size, cls=0)


def _head(ops: _OpList, spec: ModelSpec) -> None:
    b = ops.batch
    (gemm,) = spec.head_gemms
    last = spec.blocks[-1]
    blk = spec.n_layers
    t, d = last.n_q_tokens, last.out_dim
    if last.has_cls:
        # timm: norm over every token, then the CLS token (a view) to the classifier.
        ops.add("layernorm:final", "classifier", OpClass.ELEMENTWISE, "layernorm", blk,
                flops=LAYERNORM_OPS * b * t * d, elems=2 * b * t * d + 2 * d,
                inputs=("x",), outputs=("x",), b=b, t=t, d=d)
    else:
        # LeViT: mean over the tokens, then the classifier (batch norms folded).
        ops.add("reduce:pool", "classifier", OpClass.ELEMENTWISE, "pool", blk,
                flops=POOL_OPS * b * t * d, elems=b * t * d + b * d, inputs=("x",),
                outputs=("x",), b=b, t=t, d=d)
    ops.linear(gemm.name, "classifier", blk, 1, gemm.k, gemm.n, src="x", dst="logits")


def _block(ops: _OpList, spec: ModelSpec, i: int, blk: BlockSpec, mode: AttentionMode,
           density: float) -> None:
    b = ops.batch
    nq, nk, h = blk.n_q_tokens, blk.n_k_tokens, blk.n_heads
    dqk, dv = blk.qk_dim, blk.v_dim
    act = blk.activation.value
    layernorm = blk.norm is Norm.LAYERNORM
    src = "x"
    if layernorm:
        ops.add("layernorm:ln1", "ln1", OpClass.ELEMENTWISE, "layernorm", i,
                flops=LAYERNORM_OPS * b * nk * blk.in_dim,
                elems=2 * b * nk * blk.in_dim + 2 * blk.in_dim,
                inputs=("x",), outputs=("h",), b=b, t=nk, d=blk.in_dim)
        src = "h"
    if blk.kind is BlockKind.SELF:
        width = h * (2 * dqk + dv)
        ops.linear("qkv", "qkv", i, nq, blk.in_dim, width, src=src, dst="qkv")
        ops.copy("copy:qkv_heads", "qkv", "split_heads", i, b * nq * width, b * nq * width,
                 kernels=3, inputs=("qkv",), outputs=("q", "k", "v"), b=b, t=nq, h=h,
                 widths=(dqk, dqk, dv))
    else:
        width = h * (dqk + dv)
        ops.linear("kv", "kv", i, nk, blk.in_dim, width, src=src, dst="kv")
        ops.copy("copy:kv_heads", "kv", "split_heads", i, b * nk * width, b * nk * width,
                 kernels=2, inputs=("kv",), outputs=("k", "v"), b=b, t=nk, h=h,
                 widths=(dqk, dv))
        res_in = math.isqrt(nk)
        res_out = math.isqrt(nq)
        ops.copy("copy:subsample", "q", "subsample", i, b * nq * blk.in_dim,
                 b * nq * blk.in_dim, inputs=(src,), outputs=("hs",), b=b, res=res_in,
                 res_out=res_out, c=blk.in_dim)
        ops.linear("q", "q", i, nq, blk.in_dim, h * dqk, src="hs", dst="q_lin")
        ops.copy("copy:q_heads", "q", "split_heads", i, b * nq * h * dqk, b * nq * h * dqk,
                 inputs=("q_lin",), outputs=("q",), b=b, t=nq, h=h, widths=(dqk,))
    scores = h * nq * nk  # per image
    attn_dims = dict(b=b, h=h, nq=nq, nk=nk, dqk=dqk, dv=dv)
    if mode is AttentionMode.DENSE_MASKED:
        ops.add("attention:qk", "qk", OpClass.BATCHED_MATMUL, "qk", i,
                flops=2.0 * b * scores * dqk,
                elems=b * h * (nq + nk) * dqk + b * scores,
                inputs=("q", "k"), outputs=("s",), **attn_dims)
        ops.elementwise("attention:scale", "qk", "scale", i, b * scores, SCALE_OPS,
                        inputs=("s",), outputs=("s",), size=b * scores, dqk=dqk)
        if spec.family == "levit":
            ops.elementwise("attention:bias", "qk", "bias", i, b * scores, BIAS_OPS,
                            extra_elems=scores, inputs=("s",), outputs=("s",), **attn_dims)
        if density < 1.0:
            ops.elementwise("attention:mask", "qk", "mask", i, b * scores, MASK_OPS,
                            extra_bytes=scores * MASK_BYTES, inputs=("s",), outputs=("s",),
                            density=density, **attn_dims)
        ops.elementwise("softmax", "softmax", "softmax", i, b * scores, SOFTMAX_OPS,
                        inputs=("s",), outputs=("p",), rows=b * h * nq, cols=nk)
        ops.add("attention:sv", "sv", OpClass.BATCHED_MATMUL, "sv", i,
                flops=2.0 * b * scores * dv,
                elems=b * scores + b * h * nk * dv + b * h * nq * dv,
                inputs=("p", "v"), outputs=("o",), **attn_dims)
    else:
        kept = density * scores  # kept scores per image
        index = INDEX_BYTES * (kept + h * (nq + 1))  # CSR of the fixed mask, read once
        ops.add("attention:qk", "qk", OpClass.SPARSE_KERNEL, "sddmm", i,
                flops=2.0 * b * kept * dqk, elems=b * h * (nq + nk) * dqk + b * kept,
                extra_bytes=index, inputs=("q", "k"), outputs=("s",), density=density,
                **attn_dims)
        ops.elementwise("attention:scale", "qk", "scale", i, b * kept, SCALE_OPS,
                        inputs=("s",), outputs=("s",), size=b * kept, dqk=dqk)
        if spec.family == "levit":
            ops.elementwise("attention:bias", "qk", "bias", i, b * kept, BIAS_OPS,
                            extra_elems=kept, inputs=("s",), outputs=("s",), **attn_dims)
        ops.elementwise("softmax", "softmax", "softmax", i, b * kept, SOFTMAX_OPS,
                        extra_bytes=INDEX_BYTES * h * (nq + 1), inputs=("s",),
                        outputs=("p",), rows=b * h * nq, density=density)
        ops.add("attention:sv", "sv", OpClass.SPARSE_KERNEL, "spmm", i,
                flops=2.0 * b * kept * dv,
                elems=b * kept + b * h * nk * dv + b * h * nq * dv, extra_bytes=index,
                inputs=("p", "v"), outputs=("o",), density=density, **attn_dims)
    out_width = h * dv
    ops.copy("copy:heads_merge", "sv", "merge_heads", i, b * nq * out_width,
             b * nq * out_width, inputs=("o",), outputs=("o2",), b=b, t=nq, h=h, d=dv)
    if spec.family == "levit":
        # LeViT's projection is Sequential(hardswish, Linear + folded BN).
        ops.elementwise("activation:proj_in", "proj", "activation", i, b * nq * out_width,
                        HARDSWISH_OPS, inputs=("o2",), outputs=("o2",), fn="hardswish",
                        size=b * nq * out_width)
    residual = blk.square and blk.in_dim == blk.out_dim
    ops.linear("proj", "proj", i, nq, out_width, blk.out_dim, src="o2",
               dst="a" if residual else "x")
    d = blk.out_dim
    if residual:
        ops.elementwise("add:residual_attn", "residual", "add", i, b * nq * d, ADD_OPS,
                        reads=2, inputs=("x", "a"), outputs=("x",), b=b, t=nq, d=d,
                        broadcast=0)
    if not blk.mlp_hidden:
        return
    src = "x"
    if layernorm:
        ops.add("layernorm:ln2", "ln2", OpClass.ELEMENTWISE, "layernorm", i,
                flops=LAYERNORM_OPS * b * nq * d, elems=2 * b * nq * d + 2 * d,
                inputs=("x",), outputs=("h",), b=b, t=nq, d=d)
        src = "h"
    hid = blk.mlp_hidden
    ops.linear("fc1", "fc1", i, nq, d, hid, src=src, dst="m")
    ops.elementwise(f"activation:{act}", "activation", "activation", i, b * nq * hid,
                    _ACTIVATION_OPS[act], inputs=("m",), outputs=("m",), fn=act,
                    size=b * nq * hid)
    ops.linear("fc2", "fc2", i, nq, hid, d, src="m", dst="a")
    ops.elementwise("add:residual_mlp", "residual", "add", i, b * nq * d, ADD_OPS, reads=2,
                    inputs=("x", "a"), outputs=("x",), b=b, t=nq, d=d, broadcast=0)


def aggregate_times(ops: Sequence[PlatformOp], times_ms: Sequence[float],
                    bounds: Sequence[str],
                    energies_mj: Sequence[float] | None = None) -> tuple[OperatorTime, ...]:
    """One OperatorTime per operator name, in order of first occurrence (with its energy
    where ``energies_mj`` itemises it)."""
    acc: dict[str, dict[str, Any]] = {}
    energies = energies_mj if energies_mj is not None else [0.0] * len(ops)
    for op, t, bound, e in zip(ops, times_ms, bounds, energies, strict=True):
        entry = acc.setdefault(op.name, {"stage": op.stage, "latency_ms": 0.0, "count": 0,
                                         "flops": 0.0, "dram_bytes": 0.0, "energy_mj": 0.0,
                                         "bounds": {}})
        entry["latency_ms"] += t
        entry["count"] += op.kernels
        entry["flops"] += op.flops
        entry["dram_bytes"] += op.dram_bytes
        entry["energy_mj"] += e
        entry["bounds"][bound] = entry["bounds"].get(bound, 0.0) + t
    return tuple(
        OperatorTime(name=name, stage=e["stage"], latency_ms=e["latency_ms"], count=e["count"],
                     flops=e["flops"], dram_bytes=e["dram_bytes"],
                     bound=max(e["bounds"], key=lambda k: e["bounds"][k]),
                     energy_mj=e["energy_mj"])
        for name, e in acc.items()
    )
