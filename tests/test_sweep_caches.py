"""The sweep's caches change no number: peer presets parsed once per file and mtime, peer
results reused per (workload, resolved configuration), hardware overrides validated per
touched section, point keys composed from cached section texts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from vitsim.analysis.sweeps import runner as sweep_runner
from vitsim.analysis.sweeps.spec import _json_default, expand_sweep, load_sweep
from vitsim.errors import ConfigError
from vitsim.hw_configs.loader import (
    apply_overrides,
    hardware_from_dict,
    load_hardware,
    override_path,
    packaged_file,
    to_dict,
)
from vitsim.hw_configs.peers import load_peer


def test_peer_preset_parsed_once_and_again_when_the_file_changes(tmp_path):
    assert load_peer("sanger") is load_peer("sanger")
    path = tmp_path / "my_sanger.yaml"
    shutil.copy(str(packaged_file("peers", "sanger")), path)
    first = load_peer(path)
    assert load_peer(path) is first
    text = path.read_text(encoding="utf-8").replace("name: sanger", "name: sanger2", 1)
    assert text != path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later mtime, surely
    second = load_peer(path)
    assert second is not first and second.name == "sanger2"


def _full_path(cfg, overrides):
    """apply_overrides as it was: the whole document dumped, changed and validated."""
    data = to_dict(cfg)
    for k, v in overrides.items():
        parts = override_path(k)
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if v is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = v
    return hardware_from_dict(data, source=f"{cfg.name} with overrides")


OVERRIDE_CHOICES = {
    "dram.bandwidth_gb_per_s": [12.8, 76.8, 300],
    "mac_array.n_lines": [8, 64, 100],
    "mac_array.macs_per_line": [4, 8, 16],
    "buffers.q.size_kib": [16, 53.0, 212],
    "buffers.activation.size_kib": [48, 159],
    "allocation.policy": ["proportional", "search", "static"],
    "clock_mhz": [250, 500.0],
    "codec.decoder_lines": [0, 8, 16],
    "engines.dense.kind": ["mac_lines", "systolic"],
}


@pytest.mark.parametrize("preset", ["vitcod", "systolic-os"])
def test_overrides_validated_per_section_equal_the_whole_document(preset, rng):
    base = load_hardware(preset)
    for _ in range(60):
        keys = rng.choice(list(OVERRIDE_CHOICES), size=int(rng.integers(1, 5)), replace=False)
        over = {str(k): OVERRIDE_CHOICES[k][int(rng.integers(len(OVERRIDE_CHOICES[k])))]
                for k in keys}
        try:
            expected = _full_path(base, over)
        except ConfigError as err:
            with pytest.raises(ConfigError) as got:
                apply_overrides(base, over)
            assert str(got.value) == str(err)
            continue
        got = apply_overrides(base, over)
        assert got == expected
        assert to_dict(got) == to_dict(expected)
        assert json.dumps(to_dict(got)) == json.dumps(to_dict(expected))  # same types too


@pytest.mark.parametrize("name", ["quick", "random_deit_small", "deit_base_1000"])
def test_point_keys_hash_the_whole_resolved_document(name):
    e = expand_sweep(load_sweep(name))
    for p in e.points[:: max(1, len(e.points) // 50)]:
        if not p.ok:
            continue
        doc = {"hardware": to_dict(p.hardware), "workload": p.workload.document()}
        if e.spec.baselines:
            doc["baselines"] = list(e.spec.baselines)
        text = json.dumps(doc, sort_keys=True, default=_json_default)
        assert p.key == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_peer_results_reused_per_resolved_configuration():
    from vitsim.analysis.compare import run_baseline
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic

    trace = trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)
    base = load_hardware("vitcod")
    same_peer = apply_overrides(base, {"allocation.policy": "search"})  # not a peer input
    other = apply_overrides(base, {"dram.bandwidth_gb_per_s": 25.6})
    sweep_runner._PEER_CACHE.clear()
    for name in ("sanger", "spatten"):
        a = sweep_runner._peer_run("w", name, trace, base)
        assert sweep_runner._peer_run("w", name, trace, same_peer) is a
        b = sweep_runner._peer_run("w", name, trace, other)
        assert b is not a
        for hw, got in ((base, a), (other, b)):
            fresh = run_baseline(name, trace, hw)
            assert got.latency_ms == fresh.latency_ms and got.energy_mj == fresh.energy_mj
            assert [o.latency_ms for o in got.operators] == \
                [o.latency_ms for o in fresh.operators]


def test_chunk_records_equal_with_cold_and_warm_caches():
    e = expand_sweep(load_sweep("quick"))
    points = [p for p in e.points if p.ok and p.workload.sparsity == 0.9]
    ref, err = sweep_runner.build_trace_bytes(points[0].workload)
    assert err is None
    units = [(p.key, p.hardware) for p in points]
    sweep_runner._PEER_CACHE.clear()
    cold = sweep_runner.evaluate_chunk(points[0].workload.key(), ref, units, e.spec.baselines)
    warm = sweep_runner.evaluate_chunk(points[0].workload.key(), ref, units, e.spec.baselines)
    assert cold == warm
    assert all(np.isfinite(r["latency_ms"]) for r in cold)
