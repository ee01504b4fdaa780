"""CPU/GPU platform baselines: the strict platform schema and its presets, the operator list,
the per-operator roofline (a hand-computed case and hypothesis invariants), and the measured
mode's profile (torch on a tiny model) read back into a MEASURED BaselineResult."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from vitsim.errors import ConfigError, VitsimError
from vitsim.hw_configs.platforms import (
    AttentionMode,
    ClassEfficiency,
    Compute,
    Efficiency,
    Memory,
    OpClass,
    PlatformConfig,
    PlatformKind,
    Power,
    Precision,
    dump_platform,
    known_platforms,
    load_platform,
    platform_from_dict,
    platform_to_dict,
    write_platform,
)
from vitsim.simulator.baselines import (
    block_densities,
    dump_profile,
    load_profile,
    measured,
    op_time_s,
    platform_operators,
    profile_from_dict,
    profile_to_dict,
    roofline,
    write_profile,
)
from vitsim.simulator.baselines.result import BaselineKind
from vitsim.simulator.baselines.roofline import op_energy_j, op_utilisation
from vitsim.simulator.counts import STAGES
from vitsim.strict_yaml import loads_strict
from vitsim.workloads.model_spec import build_levit, build_vit, get_spec

PRESETS = known_platforms()
TINY_VIT = build_vit("tiny-vit", embed_dim=32, depth=2, n_heads=2, image_size=32,
                     patch_size=16, n_classes=10)
TINY_LEVIT = build_levit("tiny-levit", embed_dims=(32, 48), key_dim=8, n_heads=(2, 3),
                         depths=(1, 1), image_size=64, n_classes=10)


def _write(tmp_path: Path, data: dict | str, name: str = "platform.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _xeon_dict() -> dict:
    return platform_to_dict(load_platform("xeon-gold-6230"))


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_platform(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text
    return text


def _simple_platform(**changes) -> PlatformConfig:
    """A platform with round numbers for hand-computed cases."""
    eff = ClassEfficiency(compute=0.5, memory=0.8)
    base = PlatformConfig(
        name="simple", kind="cpu", device="a test part", precision="fp32",
        compute=Compute(fp32_gflop_per_s=1000.0), memory=Memory(bandwidth_gb_per_s=100.0),
        efficiency=Efficiency(gemm=eff, batched_matmul=eff, elementwise=eff,
                              sparse_kernel=ClassEfficiency(compute=0.1, memory=0.4)),
        kernel_launch_us=2.0, power=Power(power_w=100.0, basis="tdp"))
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------------------
# Presets and the schema


def test_the_four_presets_are_shipped():
    assert {"xeon-gold-6230", "jetson-tx2", "rtx-2080ti", "a100-sxm4-40gb"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_round_trip_and_are_named_after_their_file(name, tmp_path):
    cfg = load_platform(name)
    assert cfg.name == name
    assert platform_from_dict(loads_strict(dump_platform(cfg))) == cfg
    assert load_platform(write_platform(cfg, tmp_path / "copy.yaml")) == cfg
    assert cfg.precision is Precision.FP32
    assert cfg.attention_mode is AttentionMode.DENSE_MASKED


def _cited(lines: list[str], i: int) -> bool:
    """Line ``i`` carries a comment, or the block of value lines it belongs to (no blank line
    between) is headed by one: the source or ASSUMPTION that covers it."""
    if "#" in lines[i]:
        return True
    j = i - 1
    while j >= 0 and lines[j].strip() and not lines[j].strip().startswith("#"):
        j -= 1
    return j >= 0 and lines[j].strip().startswith("#")


def _preset_lines(name: str) -> list[str]:
    from importlib import resources

    return (resources.files("vitsim.hw_configs").joinpath(f"presets/platforms/{name}.yaml")
            .read_text()).splitlines()


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_states_sources_and_assumptions(name):
    lines = _preset_lines(name)
    text = "\n".join(lines)
    assert "Sources" in text and "ASSUMPTION" in text
    for key in ("fp32_gflop_per_s", "fp16_gflop_per_s", "fp16_tensor_gflop_per_s",
                "bandwidth_gb_per_s", "power_w", "idle_w", "dispatch_us_per_op",
                "kernel_launch_us", "efficiency"):
        found = [i for i, ln in enumerate(lines) if ln.strip().startswith(key + ":")]
        if key.startswith("fp16") and not found:
            continue  # no FP16 arithmetic on this part
        assert found, (name, key, "missing: every shipped preset states it")
        assert _cited(lines, found[0]), (name, key)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_value_line_cites_a_source(name):
    """Every value line of a shipped preset has a comment on it or heading its block (a
    source, or an ASSUMPTION with its reasoning); only names and enums go without."""
    lines = _preset_lines(name)
    free = ("name:", "kind:", "device:", "precision:", "attention_mode:", "basis:")
    for i, ln in enumerate(lines):
        stripped = ln.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":") \
                or stripped.startswith(free):
            continue
        assert _cited(lines, i), (name, i + 1, ln)


def test_the_papers_platforms_are_shipped():
    """ViTCoD's paper: a Xeon Gold 6230R (26 cores), a Jetson Xavier NX, an RTX 2080 Ti; its
    released code profiles a TX2, kept."""
    assert {"xeon-gold-6230r", "jetson-xavier-nx", "rtx-2080ti", "jetson-tx2"} <= set(PRESETS)
    xeon = load_platform("xeon-gold-6230r")
    assert xeon.compute.fp32_gflop_per_s == pytest.approx(26 * 2.1 * 64)
    assert xeon.memory.bandwidth_gb_per_s == pytest.approx(6 * 2.933 * 8, rel=1e-3)
    assert xeon.power.power_w == 150.0
    nx = load_platform("jetson-xavier-nx")
    assert nx.compute.fp32_gflop_per_s == pytest.approx(384 * 2 * 1.1)
    assert nx.compute.fp16_tensor_gflop_per_s == pytest.approx(48 * 64 * 2 * 1.1)
    assert nx.memory.bandwidth_gb_per_s == 51.2
    for name in PRESETS:
        cfg = load_platform(name)
        assert cfg.power.idle_w is not None and 0 < cfg.power.idle_w < cfg.power.power_w
        assert cfg.dispatch_us_per_op > 0
        # CPUs: the measured dispatch, no device launch; GPUs: both
        assert (cfg.kernel_launch_us == 0) == (cfg.kind is PlatformKind.CPU)


def test_unknown_key_names_file_key_path_and_allowed_keys(tmp_path):
    data = _xeon_dict()
    data["memory"]["bandwith_gb_per_s"] = data["memory"].pop("bandwidth_gb_per_s")
    path = _write(tmp_path, data)
    text = _error(path)
    assert "memory.bandwith_gb_per_s: unknown key; allowed: bandwidth_gb_per_s" in text
    assert "memory.bandwidth_gb_per_s: missing required key" in text


def test_missing_bad_enum_and_range_are_reported_at_once(tmp_path):
    data = _xeon_dict()
    del data["kernel_launch_us"]
    data["attention_mode"] = "sparse"
    data["efficiency"]["gemm"]["compute"] = 1.5
    text = _error(_write(tmp_path, data))
    assert "kernel_launch_us: missing required key" in text
    assert "attention_mode: 'sparse' is not one of: dense_masked, sparse_kernel" in text
    assert "efficiency.gemm.compute: must be in (0, 1], got 1.5" in text


def test_duplicate_keys_are_an_error_with_their_line(tmp_path):
    text = dump_platform(load_platform("rtx-2080ti")) + "kernel_launch_us: 3.0\n"
    message = _error(_write(tmp_path, text))
    assert "kernel_launch_us: duplicate key (line" in message


def test_malformed_and_missing_files(tmp_path):
    assert "malformed YAML" in _error(_write(tmp_path, "name: [unclosed\n"))
    assert "no such file" in _error(tmp_path / "absent.yaml")
    assert "empty document" in _error(_write(tmp_path, ""))
    with pytest.raises(VitsimError, match="unknown platform 'tpu'; known: a100-sxm4-40gb"):
        load_platform("tpu")


def test_fp16_needs_fp16_arithmetic(tmp_path):
    data = _xeon_dict()
    data["precision"] = "fp16"
    assert "precision: fp16 needs compute.fp16_gflop_per_s" in _error(_write(tmp_path, data))


def test_fp16_uses_tensor_cores_for_matrix_classes_only():
    gpu = dataclasses.replace(load_platform("rtx-2080ti"), precision=Precision.FP16)
    assert gpu.peak_flop_per_s(OpClass.GEMM) == gpu.compute.fp16_tensor_gflop_per_s * 1e9
    assert gpu.peak_flop_per_s(OpClass.ELEMENTWISE) == gpu.compute.fp16_gflop_per_s * 1e9
    tx2 = dataclasses.replace(load_platform("jetson-tx2"), precision=Precision.FP16)
    assert tx2.peak_flop_per_s(OpClass.GEMM) == tx2.compute.fp16_gflop_per_s * 1e9


# --------------------------------------------------------------------------------------
# The operator list


@pytest.mark.parametrize("model", ["deit-tiny", "deit-base", "levit-128"])
def test_operator_flops_match_the_model_spec(model):
    spec = get_spec(model)
    ops = platform_operators(spec, batch=2)
    assert all(op.stage in STAGES for op in ops)
    linear = sum(op.flops for op in ops if op.op_class is OpClass.GEMM)
    bias = sum(2 * g.m * g.n for _, g in spec.linear_gemms())  # 2 images, one add each
    assert linear == pytest.approx(2 * 2 * sum(g.macs for _, g in spec.linear_gemms()) + bias)
    attention = sum(op.flops for op in ops if op.op_class is OpClass.BATCHED_MATMUL)
    assert attention == 2 * 2 * sum(g.macs for b in spec.blocks for g in b.attention_gemms())


def test_deit_tiny_is_1_26_gmacs():
    ops = platform_operators(get_spec("deit-tiny"))
    gemm_macs = sum(op.flops for op in ops if op.kind in ("linear", "conv", "qk", "sv")) / 2
    assert gemm_macs == pytest.approx(1.26e9, rel=1e-2)  # DeiT-Ti: 1.3 GFLOPs (MACs)


def test_mask_op_only_for_a_sparse_mask_in_dense_masked_mode():
    spec = get_spec("deit-tiny")
    names = lambda **kw: {op.name for op in platform_operators(spec, **kw)}  # noqa: E731
    assert "attention:mask" not in names()
    assert "attention:mask" in names(kept_density=0.1)
    assert "attention:mask" not in names(kept_density=0.1, attention_mode="sparse_kernel")


def test_sparse_kernel_at_density_one_does_the_dense_flops():
    spec = get_spec("deit-small")
    dense = {(op.name, op.block): op.flops for op in platform_operators(spec)}
    for op in platform_operators(spec, attention_mode="sparse_kernel", kept_density=1.0):
        if op.name in ("attention:qk", "attention:sv"):
            assert op.flops == dense[(op.name, op.block)]


def test_bad_batch_and_density_are_vitsim_errors():
    with pytest.raises(VitsimError, match="batch"):
        platform_operators(TINY_VIT, batch=0)
    with pytest.raises(VitsimError, match="kept density"):
        platform_operators(TINY_VIT, kept_density=1.5)
    with pytest.raises(VitsimError, match="block densities"):
        platform_operators(TINY_VIT, kept_density=[0.5])


# --------------------------------------------------------------------------------------
# The roofline


def test_one_gemm_by_hand():
    """deit-tiny's qkv at batch 1 on 1000 GFLOP/s x 0.5 and 100 GB/s x 0.8, 2 us launch."""
    op = next(o for o in platform_operators(get_spec("deit-tiny"))
              if o.name == "linear:qkv" and o.block == 0)
    flops = 2 * 197 * 192 * 576 + 197 * 576  # MACs x 2 + bias adds = 43,686,720
    nbytes = 4 * (197 * 192 + 192 * 576 + 576 + 197 * 576)  # x, W, b read; y written
    assert (op.flops, op.dram_bytes) == (flops, nbytes)
    seconds, bound = op_time_s(op, _simple_platform())
    compute_s = flops / (1000e9 * 0.5)  # 87.37 us
    memory_s = nbytes / (100e9 * 0.8)  # 13.12 us
    assert bound == "compute"
    assert seconds == pytest.approx(max(compute_s, memory_s) + 2e-6, rel=1e-12)
    assert seconds * 1e6 == pytest.approx(89.37344)


def test_result_shape_energy_and_operator_sums():
    platform = load_platform("rtx-2080ti")
    result = roofline(platform, get_spec("deit-small"), batch=4, sparsity=0.9)
    assert result.kind is BaselineKind.ROOFLINE and result.batch == 4
    assert result.latency_ms == pytest.approx(sum(o.latency_ms for o in result.operators))
    assert result.energy_mj == pytest.approx(sum(o.energy_mj for o in result.operators))
    assert 17.0 * result.latency_ms <= result.energy_mj <= 250.0 * result.latency_ms
    assert {o.bound for o in result.operators} <= {"compute", "memory", "dispatch", "launch"}
    assert len({o.name for o in result.operators}) == len(result.operators)
    assert result.document()["operators"][0]["name"] == "linear:patch_embed"


def test_dispatch_bound_when_kernels_are_tiny():
    """A GPU pass of tiny kernels costs one dispatch per kernel: the host is the bottleneck
    and the device's launch + run time hides behind it (asynchronous stream)."""
    platform = load_platform("a100-sxm4-40gb")
    result = roofline(platform, TINY_VIT)
    assert {o.bound for o in result.operators} == {"dispatch"}
    kernels = sum(o.count for o in result.operators)
    assert result.latency_ms == pytest.approx(kernels * platform.dispatch_us_per_op * 1e-3,
                                              rel=1e-9)


def test_dispatch_is_added_on_a_cpu_and_overlapped_on_a_gpu():
    """Closed form: qkv of deit-tiny block 0 (87.37 us compute) with 3 us dispatch and 2 us
    launch: a CPU pays dispatch + launch + device; a GPU max(dispatch, launch + device)."""
    op = next(o for o in platform_operators(get_spec("deit-tiny"))
              if o.name == "linear:qkv" and o.block == 0)
    compute_s = op.flops / (1000e9 * 0.5)
    cpu = _simple_platform(dispatch_us_per_op=3.0)
    assert op_time_s(op, cpu)[0] == pytest.approx(3e-6 + 2e-6 + compute_s, rel=1e-12)
    gpu = _simple_platform(kind="gpu", dispatch_us_per_op=3.0)
    assert op_time_s(op, gpu) == (pytest.approx(2e-6 + compute_s, rel=1e-12), "compute")
    slow_host = _simple_platform(kind="gpu", dispatch_us_per_op=200.0)
    assert op_time_s(op, slow_host) == (pytest.approx(200e-6, rel=1e-12), "dispatch")
    # one dispatch per kernel: the three per-head copies of a block
    copy = next(o for o in platform_operators(get_spec("deit-tiny"))
                if o.name == "copy:qkv_heads" and o.block == 0)
    assert copy.kernels == 3
    idle = _simple_platform(dispatch_us_per_op=3.0, kernel_launch_us=0.0,
                            memory=Memory(bandwidth_gb_per_s=1e9))
    assert op_time_s(copy, idle)[0] == pytest.approx(9e-6, rel=1e-6)


def test_energy_is_idle_plus_utilisation_scaled_dynamic_power():
    """Closed form: the qkv GEMM above at 50% of peak compute (efficiency 0.5, no overheads)
    draws idle + half the dynamic range; with 87.37 us of dispatch in front of it, a quarter."""
    op = next(o for o in platform_operators(get_spec("deit-tiny"))
              if o.name == "linear:qkv" and o.block == 0)
    power = Power(power_w=100.0, basis="tdp", idle_w=20.0)
    bare = _simple_platform(kernel_launch_us=0.0, power=power)
    seconds, _ = op_time_s(op, bare)
    assert op_utilisation(op, bare, seconds) == pytest.approx(0.5)
    assert op_energy_j(op, bare, seconds) == pytest.approx((20.0 + 80.0 * 0.5) * seconds)
    slow = _simple_platform(kernel_launch_us=0.0, power=power,
                            dispatch_us_per_op=seconds * 1e6)
    seconds2, _ = op_time_s(op, slow)
    assert seconds2 == pytest.approx(2 * seconds)
    assert op_energy_j(op, slow, seconds2) == pytest.approx((20.0 + 80.0 * 0.25) * seconds2)
    # without idle_w the platform draws power_w always: the old power x latency
    flat = _simple_platform(kernel_launch_us=0.0)
    assert op_energy_j(op, flat, seconds) == pytest.approx(100.0 * seconds)
    assert Power(power_w=10.0, basis="tdp", idle_w=2.0).at(7.0) == 10.0


def test_idle_power_above_full_power_is_rejected(tmp_path):
    data = _xeon_dict()
    data["power"]["idle_w"] = 500.0
    assert "power.idle_w: idle power 500 W exceeds power_w 125 W" in _error(
        _write(tmp_path, data))


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(["deit-tiny", "levit-128", "deit-base"]),
       preset=st.sampled_from(PRESETS), batch=st.integers(1, 16),
       sparsity=st.floats(0.0, 0.99), mode=st.sampled_from(list(AttentionMode)))
def test_energy_between_idle_and_full_power_times_latency(model, preset, batch, sparsity,
                                                          mode):
    platform = load_platform(preset)
    result = roofline(platform, get_spec(model), batch=batch, sparsity=sparsity,
                      attention_mode=mode)
    idle, full = platform.power.idle_w, platform.power.power_w
    for o in result.operators:
        assert idle * o.latency_ms * (1 - 1e-12) <= o.energy_mj
        assert o.energy_mj <= full * o.latency_ms * (1 + 1e-12)
    assert result.energy_mj >= idle * result.latency_ms * (1 - 1e-12)


def test_a_trace_gives_per_block_densities():
    from vitsim.workloads.pipeline import trace_synthetic

    trace = trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)
    densities = block_densities(trace)
    assert len(densities) == 12
    assert sum(densities) / 12 == pytest.approx(trace.kept_density())
    platform = load_platform("xeon-gold-6230")
    by_trace = roofline(platform, get_spec("deit-tiny"), trace=trace,
                        attention_mode="sparse_kernel")
    by_mean = roofline(platform, get_spec("deit-tiny"), sparsity=1 - trace.kept_density(),
                       attention_mode="sparse_kernel")
    qk = lambda r: next(o.flops for o in r.operators if o.name == "attention:qk")  # noqa: E731
    assert qk(by_trace) == pytest.approx(qk(by_mean))
    with pytest.raises(VitsimError, match="own sparsity"):
        roofline(platform, get_spec("deit-tiny"), trace=trace, sparsity=0.5)


_scale = st.floats(min_value=1.0, max_value=64.0)


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(["deit-tiny", "levit-128"]), preset=st.sampled_from(PRESETS),
       bw=_scale, flops=_scale, sparsity=st.floats(0.0, 0.99),
       mode=st.sampled_from(list(AttentionMode)))
def test_more_bandwidth_or_compute_is_never_slower(model, preset, bw, flops, sparsity, mode):
    base = load_platform(preset)
    faster = dataclasses.replace(
        base, memory=Memory(bandwidth_gb_per_s=base.memory.bandwidth_gb_per_s * bw),
        compute=dataclasses.replace(base.compute,
                                    fp32_gflop_per_s=base.compute.fp32_gflop_per_s * flops))
    spec = get_spec(model)
    slow = roofline(base, spec, sparsity=sparsity, attention_mode=mode)
    fast = roofline(faster, spec, sparsity=sparsity, attention_mode=mode)
    assert fast.latency_ms <= slow.latency_ms * (1 + 1e-12)
    for a, b in zip(fast.operators, slow.operators, strict=True):
        assert a.latency_ms <= b.latency_ms * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(preset=st.sampled_from(PRESETS), batch=st.integers(1, 32), extra=st.integers(1, 32),
       sparsity=st.floats(0.0, 0.99), mode=st.sampled_from(list(AttentionMode)))
def test_latency_is_monotone_in_batch(preset, batch, extra, sparsity, mode):
    platform, spec = load_platform(preset), get_spec("deit-tiny")
    small = roofline(platform, spec, batch=batch, sparsity=sparsity, attention_mode=mode)
    big = roofline(platform, spec, batch=batch + extra, sparsity=sparsity, attention_mode=mode)
    assert big.latency_ms >= small.latency_ms
    # ... and per image it never gets worse: weights and launches are shared by the batch.
    assert big.latency_ms_per_image <= small.latency_ms_per_image * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(["deit-tiny", "deit-base", "levit-192"]),
       preset=st.sampled_from(PRESETS), low=st.floats(0.0, 0.99), high=st.floats(0.0, 0.99))
def test_sparse_kernels_shrink_attention_work_with_sparsity(model, preset, low, high):
    low, high = min(low, high), max(low, high)
    platform, spec = load_platform(preset), get_spec(model)
    dense = roofline(platform, spec, sparsity=high)
    sparse_low = roofline(platform, spec, sparsity=low, attention_mode="sparse_kernel")
    sparse_high = roofline(platform, spec, sparsity=high, attention_mode="sparse_kernel")

    def attention(result, what):
        return sum(getattr(o, what) for o in result.operators if o.stage in ("qk", "sv"))

    assert attention(sparse_high, "flops") <= attention(dense, "flops") * (1 + 1e-12)
    assert attention(sparse_high, "flops") <= attention(sparse_low, "flops") * (1 + 1e-12)
    assert attention(sparse_high, "dram_bytes") <= attention(sparse_low, "dram_bytes") + 1e-6
    assert sparse_high.latency_ms <= sparse_low.latency_ms * (1 + 1e-12)


def test_dense_masked_gains_nothing_from_sparsity_and_pays_for_the_mask():
    platform, spec = load_platform("jetson-tx2"), get_spec("deit-base")
    dense = roofline(platform, spec).latency_ms
    times = [roofline(platform, spec, sparsity=s).latency_ms for s in (0.1, 0.5, 0.9, 0.95)]
    assert max(times) == pytest.approx(min(times), rel=1e-12)
    assert min(times) > dense


# --------------------------------------------------------------------------------------
# Measured mode: torch on tiny models, profiles and MEASURED results


@pytest.fixture(scope="module")
def tiny_profiles():
    pytest.importorskip("vitsim.models.measure")
    from vitsim.analysis.cli.baseline import measure_platform
    return {
        "vit": measure_platform(TINY_VIT, repeats=2, warmup=1, sparsity=0.5, threads=1),
        "levit": measure_platform(TINY_LEVIT, batch=2, repeats=2, warmup=0),
    }


@pytest.mark.parametrize("which", ["vit", "levit"])
def test_profile_round_trips_and_lines_up_with_the_roofline(tiny_profiles, which, tmp_path):
    pytest.importorskip("torch")
    profile = tiny_profiles[which]
    assert profile_from_dict(loads_strict(dump_profile(profile))) == profile
    path = write_profile(profile, tmp_path / "p.yaml")
    assert load_profile(path) == profile
    spec = profile.spec()
    platform = load_platform("xeon-gold-6230")
    result = measured(profile, platform=platform)
    roof = roofline(platform, spec, batch=profile.workload.batch,
                    sparsity=profile.workload.sparsity or None)
    assert result.kind is BaselineKind.MEASURED
    assert [o.name for o in result.operators] == [o.name for o in roof.operators]
    assert [o.flops for o in result.operators] == [o.flops for o in roof.operators]
    assert result.latency_ms == pytest.approx(sum(op.median_ms for op in profile.operators))
    assert result.latency_ms > 0
    # a measured time priced by the platform's power model: idle 25 W + up to 100 W dynamic
    assert 25.0 * result.latency_ms <= result.energy_mj <= 125.0 * result.latency_ms
    assert result.energy_mj == pytest.approx(sum(o.energy_mj for o in result.operators))
    assert all(o.bound == "measured" for o in result.operators)
    assert math.isnan(measured(profile).energy_mj)
    assert profile.machine.torch and profile.machine.threads >= 1


def test_profile_records_the_mask_and_threads(tiny_profiles):
    vit = tiny_profiles["vit"]
    assert vit.workload.sparsity == 0.5 and vit.machine.threads == 1
    assert "attention:mask" in {op.name for op in vit.operators}
    assert vit.timing.repeats == 2 and vit.timing.forward_ms > 0


def test_write_profile_never_overwrites(tiny_profiles, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("keep me", encoding="utf-8")
    with pytest.raises(VitsimError, match="already exists"):
        write_profile(tiny_profiles["vit"], path)
    assert path.read_text(encoding="utf-8") == "keep me"


def test_profile_errors_name_the_key(tiny_profiles, tmp_path):
    data = profile_to_dict(tiny_profiles["vit"])
    data["schema_version"] = 99
    data["machine"]["gpu"] = "x"
    del data["timing"]["repeats"]
    data["operators"][0]["stage"] = "mlp"
    path = _write(tmp_path, data, "bad.yaml")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    text = str(info.value)
    assert str(path) in text and "\n" not in text
    for fragment in ("schema_version: unsupported profile schema 99",
                     "machine.gpu: unknown key; allowed: device, device_name",
                     "timing.repeats: missing required key",
                     "operators[0].stage: unknown stage 'mlp'"):
        assert fragment in text


def test_a_profile_of_another_operator_list_is_refused(tiny_profiles):
    profile = tiny_profiles["vit"]
    shorter = dataclasses.replace(profile, operators=profile.operators[:-1])
    with pytest.raises(VitsimError, match="do not match"):
        measured(shorter)


def test_sparse_kernel_is_not_measured():
    pytest.importorskip("vitsim.models.measure")
    from vitsim.analysis.cli.baseline import measure_platform
    with pytest.raises(VitsimError, match="dense_masked"):
        measure_platform(TINY_VIT, attention_mode="sparse_kernel", repeats=1)
