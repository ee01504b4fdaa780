"""Measured mode: time the platform baseline's operators with real torch ops on this machine.

The operators are exactly those of
:func:`vitsim.simulator.baselines.operators.platform_operators`, handed in by the caller
(same names, same order, same shapes), run as one forward pass with the data flowing from
op to op as in a timm-style PyTorch ViT, with separate weights for every block, so caches
hold what they would hold in a real forward pass. Each op is timed on its own (CUDA is
synchronised before and after it); each pass is repeated, and an operator's time is its
median over the timed passes. A second loop times whole passes without per-operator
synchronisation (``timing.forward_ms``), which shows what per-op timing adds.

The result is plain timings (:class:`OperatorTimings`); ``vitsim baseline measure`` makes a
:class:`~vitsim.simulator.baselines.profile.PlatformProfile` of them
(:func:`~vitsim.simulator.baselines.profile.profile_from_timings`), so this module needs
nothing of the simulator (it imports only torch, ``vitsim.workloads`` and the root ground).

Only ``dense_masked`` attention is measured: it is what frameworks run for a fixed mask.
torch's sparse CSR support covers batched SDDMM but not batched SpMM or a CSR softmax, so a
``sparse_kernel`` measurement would time a hand-assembled kernel mix, not a framework.
"""

from __future__ import annotations

import logging
import math
import os
import platform as host_platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vitsim.errors import VitsimError

log = logging.getLogger(__name__)

__all__ = ["OperatorTimings", "cpu_model_name", "load_average", "machine_info", "time_dispatch",
           "time_operators"]

# Precision names of the platform schema (hw_configs.platforms.Precision values).
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
# Weights are drawn N(0, WEIGHT_STD^2) so activations stay finite over deep models (the
# values do not change any kernel's time; finite ones avoid NaN/denormal paths).
WEIGHT_STD = 0.02


def cpu_model_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return host_platform.processor() or host_platform.machine() or "unknown"


def machine_info(device: str, *, load_average_1min: float | None = None) -> dict[str, Any]:
    """The fields of a profile's ``machine`` section for ``device`` on this host."""
    cpu = cpu_model_name()
    name = torch.cuda.get_device_name() if device == "cuda" else cpu
    return {"device": device, "device_name": name, "cpu_model": cpu,
            "logical_cpus": os.cpu_count() or 1, "os": host_platform.platform(),
            "python": host_platform.python_version(), "torch": str(torch.__version__),
            "threads": torch.get_num_threads(), "load_average_1min": load_average_1min}


def load_average() -> float | None:
    """The host's load average over the last minute, or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on this OS
        return None


class _Runner:
    """The op list as closures over one environment of named activations and weights."""

    def __init__(self, ops: Sequence[Any], device: torch.device,
                 dtype: torch.dtype, generator: torch.Generator) -> None:
        self.device, self.dtype, self.gen = device, dtype, generator
        self.env: dict[str, torch.Tensor] = {}
        first = ops[0]
        if first.kind != "conv":
            raise AssertionError("the op list starts with the stem convolution")
        d = first.dims_dict
        self.image = self._rand(d["b"], d["c_in"], d["size_in"], d["size_in"], std=1.0)
        self.steps: list[Callable[[], None]] = [self._compile(op) for op in ops]

    def _rand(self, *shape: int, std: float = WEIGHT_STD) -> torch.Tensor:
        x = torch.randn(*shape, generator=self.gen, dtype=torch.float32) * std
        return x.to(device=self.device, dtype=self.dtype)

    def reset(self) -> None:
        """Drop the previous pass's activations; the next pass starts from the image."""
        self.env.clear()
        self.env["image"] = self.image

    def _compile(self, op: Any) -> Callable[[], None]:
        env, d = self.env, op.dims_dict
        ins, outs = op.inputs, op.outputs
        kind = op.kind
        if kind == "conv":
            w = self._rand(d["c_out"], d["c_in"], d["kernel"], d["kernel"])
            bias = self._rand(d["c_out"])
            stride, pad = d["stride"], d["padding"]
            return lambda: env.__setitem__(
                outs[0], F.conv2d(env[ins[0]], w, bias, stride=stride, padding=pad))
        if kind == "tokens":
            cls = self._rand(1, 1, d["c"]) if d["cls"] else None

            def tokens() -> None:
                x = env[ins[0]].flatten(2).transpose(1, 2)
                if cls is not None:
                    x = torch.cat((cls.expand(x.shape[0], -1, -1), x), dim=1)
                else:
                    x = x.contiguous()
                env[outs[0]] = x
            return tokens
        if kind == "add":
            if d["broadcast"]:
                pos = self._rand(1, d["t"], d["d"])
                return lambda: env.__setitem__(outs[0], env[ins[0]] + pos)
            return lambda: env.__setitem__(outs[0], env[ins[0]] + env[ins[1]])
        if kind == "layernorm":
            w, bias = self._rand(d["d"], std=1.0), self._rand(d["d"])
            shape = (d["d"],)
            return lambda: env.__setitem__(outs[0], F.layer_norm(env[ins[0]], shape, w, bias))
        if kind == "linear":
            w, bias = self._rand(d["n"], d["k"]), self._rand(d["n"])
            t = d["t"]

            def linear() -> None:
                x = env[ins[0]]
                if x.dim() == 3 and x.shape[1] != t:  # the classifier reads the CLS token
                    x = x[:, :t]
                env[outs[0]] = F.linear(x, w, bias)
            return linear
        if kind == "split_heads":
            b, t, h, widths = d["b"], d["t"], d["h"], tuple(d["widths"])

            def split() -> None:
                x = env[ins[0]]
                parts: tuple[torch.Tensor, ...]
                if len(set(widths)) == 1 and len(widths) > 1:  # timm: [B, N, 3, H, d]
                    stacked = x.view(b, t, len(widths), h, widths[0]).permute(2, 0, 3, 1, 4)
                    parts = stacked.unbind(0)
                else:  # LeViT: [B, N, H, sum(widths)] split per head
                    parts = tuple(p.permute(0, 2, 1, 3)
                                  for p in x.view(b, t, h, sum(widths)).split(widths, dim=3))
                for name, part in zip(outs, parts, strict=True):
                    env[name] = part.contiguous()
            return split
        if kind == "subsample":
            b, res, c = d["b"], d["res"], d["c"]
            return lambda: env.__setitem__(
                outs[0], env[ins[0]].view(b, res, res, c)[:, ::2, ::2].reshape(b, -1, c))
        if kind == "qk":
            return lambda: env.__setitem__(outs[0], env[ins[0]] @ env[ins[1]].transpose(-2, -1))
        if kind == "scale":
            scale = 1.0 / math.sqrt(d["dqk"])
            return lambda: env.__setitem__(outs[0], env[ins[0]] * scale)
        if kind == "bias":
            ab = self._rand(d["h"], d["nq"], d["nk"])
            return lambda: env.__setitem__(outs[0], env[ins[0]] + ab)
        if kind == "mask":
            pruned = torch.rand(d["h"], d["nq"], d["nk"], generator=self.gen) >= d["density"]
            pruned[:, :, 0] = False  # the CLS column stays kept: no row is all -inf
            pruned = pruned.to(self.device)
            return lambda: env.__setitem__(
                outs[0], env[ins[0]].masked_fill(pruned, float("-inf")))
        if kind == "softmax":
            return lambda: env.__setitem__(outs[0], env[ins[0]].softmax(dim=-1))
        if kind == "sv":
            return lambda: env.__setitem__(outs[0], env[ins[0]] @ env[ins[1]])
        if kind == "merge_heads":
            b, t, width = d["b"], d["t"], d["h"] * d["d"]
            return lambda: env.__setitem__(
                outs[0], env[ins[0]].transpose(1, 2).reshape(b, t, width))
        if kind == "activation":
            if d["fn"] == "gelu":
                return lambda: env.__setitem__(outs[0], F.gelu(env[ins[0]]))
            return lambda: env.__setitem__(outs[0], F.hardswish(env[ins[0]]))
        if kind == "pool":
            return lambda: env.__setitem__(outs[0], env[ins[0]].mean(1))
        raise VitsimError(f"operator {op.name} ({kind}) cannot be measured with torch",
                          source="--attention")


def _sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


@dataclass(frozen=True)
class OperatorTimings:
    """Times of one op list: per operator its samples over the timed passes (ns), the whole
    passes without per-operator synchronisation (ns), and the machine (``machine_info``)."""

    samples_ns: tuple[tuple[int, ...], ...]
    forward_ns: tuple[int, ...]
    machine: dict[str, Any]


def time_operators(
    ops: Sequence[Any],
    *,
    device: str = "cpu",
    precision: str = "fp32",
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    seed: int = 0,
) -> OperatorTimings:
    """Time every operator of ``ops`` (a platform operator list, in execution order, starting
    with the stem convolution) as one forward pass on this machine.

    Parameters
    ----------
    device
        ``cpu`` or ``cuda``.
    precision
        ``fp32`` or ``fp16``: the dtype of weights and activations.
    repeats, warmup
        Timed and untimed passes.
    threads
        ``torch.set_num_threads(threads)`` first; None keeps torch's default.
    seed
        Seeds the weights and the random fixed mask (their values do not change timing).
    """
    if device not in ("cpu", "cuda"):
        raise VitsimError(f"unknown device {device!r}; allowed: cpu, cuda", source="--device")
    if device == "cuda" and not torch.cuda.is_available():
        raise VitsimError("no CUDA device is available to torch on this machine",
                          source="--device")
    if repeats < 1 or warmup < 0:
        raise VitsimError("repeats must be >= 1 and warmup >= 0", source="--repeats")
    if precision not in _DTYPES:
        raise VitsimError(f"unknown precision {precision!r}; allowed: {', '.join(_DTYPES)}",
                          source="precision")
    if threads is not None:
        torch.set_num_threads(threads)
    load = load_average()
    if load is not None and load > 0.5 * (os.cpu_count() or 1):
        log.warning("load average %.2f on %d CPUs: other work competes for the cores and "
                    "inflates the times", load, os.cpu_count() or 1)
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    runner = _Runner(ops, dev, _DTYPES[precision], gen)
    sync = _sync(dev)
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in ops]
    with torch.inference_mode():
        for rep in range(warmup + repeats):
            runner.reset()
            sync()
            for j, step in enumerate(runner.steps):
                t0 = clock()
                step()
                sync()
                if rep >= warmup:
                    samples[j].append(clock() - t0)
        forward_ns = []
        for _ in range(repeats):
            runner.reset()
            sync()
            t0 = clock()
            for step in runner.steps:
                step()
            sync()
            forward_ns.append(clock() - t0)
    return OperatorTimings(samples_ns=tuple(tuple(x) for x in samples),
                           forward_ns=tuple(forward_ns),
                           machine=machine_info(device, load_average_1min=load))


# ----------------------------------------------------------------------------- dispatch


def _dispatch_ops(device: torch.device) -> dict[str, Callable[[], Any]]:
    """One-element calls of the op kinds the roofline's operator list launches."""
    one, other = torch.ones(1, device=device), torch.ones(1, device=device)
    w, b = torch.ones(1, 1, device=device), torch.ones(1, device=device)
    x2 = torch.ones(1, 1, device=device)
    a3, b3 = torch.ones(1, 1, 1, device=device), torch.ones(1, 1, 1, device=device)
    mask = torch.zeros(1, dtype=torch.bool, device=device)
    t = torch.ones(2, 2, device=device).t()
    ln_w, ln_b = torch.ones(1, device=device), torch.zeros(1, device=device)
    return {
        "linear (addmm)": lambda: F.linear(x2, w, b),
        "bmm": lambda: torch.bmm(a3, b3),
        "add": lambda: torch.add(one, other),
        "mul (scale)": lambda: one * 0.125,
        "masked_fill": lambda: one.masked_fill(mask, float("-inf")),
        "softmax": lambda: torch.softmax(one, dim=-1),
        "layer_norm": lambda: F.layer_norm(one, (1,), ln_w, ln_b),
        "gelu": lambda: F.gelu(one),
        "contiguous (copy)": lambda: t.contiguous(),
    }


def time_dispatch(device: str = "cpu", *, threads: int | None = None, calls: int = 1000,
                  loops: int = 60, warmup: int = 5) -> dict[str, tuple[float, float]]:
    """The per-operator cost of PyTorch eager when the arithmetic is negligible: per op kind
    the roofline lists, ``(median, minimum)`` in microseconds per call over ``loops`` loops
    of ``calls`` one-element calls under ``torch.inference_mode()``.

    On a CPU that is the host dispatch (Python + ATen dispatcher + allocation), the platform
    field ``dispatch_us_per_op``. On CUDA one synchronisation closes each loop, so a sample is
    the steady-state cost of an op in an asynchronous stream, ``max(dispatch, launch +
    device)`` for a one-element kernel. ``threads``: ``torch.set_num_threads`` first.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VitsimError("CUDA is not available on this machine", source="--device")

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def sample_us(fn: Callable[[], Any]) -> float:
        sync()
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        sync()
        return (time.perf_counter_ns() - t0) / calls / 1e3

    out: dict[str, tuple[float, float]] = {}
    with torch.inference_mode():
        for name, fn in _dispatch_ops(dev).items():
            for _ in range(warmup):
                sample_us(fn)
            samples = sorted(sample_us(fn) for _ in range(loops))
            mid = len(samples) // 2
            median = samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2
            out[name] = (median, samples[0])
    return out
