"""The hardware description: presets, strict loading, round trips, overrides."""

from __future__ import annotations

import dataclasses
import math
from importlib import resources
from pathlib import Path

import pytest
import yaml

from vitsim.errors import ConfigError, VitsimError
from vitsim.hw_configs.loader import (
    apply_overrides,
    dump_hardware,
    hardware_from_dict,
    known_presets,
    load_hardware,
    to_dict,
    write_hardware,
)
from vitsim.hw_configs.schema import (
    BUFFER_NAMES,
    AllocationPolicy,
    Buffer,
    BufferEnergy,
    BufferName,
    Buffers,
    Codec,
    Dataflow,
    DenseEngine,
    DenseEngineKind,
    DramKind,
    HardwareConfig,
    MacArray,
)
from vitsim.strict_yaml import loads_strict

PRESETS = known_presets()


def _table_dict() -> dict:
    """A preset priced by per-buffer SRAM tables (vitcod-released)."""
    return to_dict(load_hardware("vitcod-released"))


def _vitcod_dict() -> dict:
    return to_dict(load_hardware("vitcod"))


def _write(tmp_path: Path, data_or_text: dict | str, name: str = "hw.yaml") -> Path:
    path = tmp_path / name
    text = data_or_text if isinstance(data_or_text, str) else yaml.safe_dump(data_or_text)
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_hardware(path)
    return info.value


def _assert_one_line(err: ConfigError, path: Path, *fragments: str) -> str:
    text = str(err)
    assert "\n" not in text
    assert str(path) in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


# --------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------


def test_the_shipped_presets_are_there():
    assert {"vitcod", "systolic-os", "systolic-ws"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_is_named_after_its_file(name):
    cfg = load_hardware(name)
    assert isinstance(cfg, HardwareConfig)
    assert cfg.name == name


@pytest.mark.parametrize("name", PRESETS)
def test_dump_then_load_gives_the_same_config(name):
    cfg = load_hardware(name)
    text = dump_hardware(cfg)
    again = hardware_from_dict(loads_strict(text, source="dump"), source="dump")
    assert again == cfg
    assert hash(again) == hash(cfg)
    # and a second dump is byte-identical
    assert dump_hardware(again) == text


@pytest.mark.parametrize("name", PRESETS)
def test_written_file_loads_back(name, tmp_path):
    cfg = load_hardware(name)
    path = write_hardware(cfg, tmp_path / f"{name}.yaml")
    assert load_hardware(path) == cfg
    assert load_hardware(str(path)) == cfg


def test_vitcod_matches_the_paper():
    cfg = load_hardware("vitcod")
    assert cfg.clock_mhz == 500
    assert (cfg.mac_array.n_lines, cfg.mac_array.macs_per_line) == (64, 8)
    assert cfg.total_macs == 512
    assert cfg.dense_macs == 512
    assert cfg.lines_shared
    assert cfg.dram.bandwidth_gb_per_s == 76.8
    assert cfg.dram_bytes_per_cycle == pytest.approx(153.6)
    sizes = {name: buf.size_kib for name, buf in cfg.buffers.items()}
    assert sizes["q"] == sizes["k"] == sizes["v"] == 53
    assert sizes["index"] == 20
    assert sizes["output"] == 108
    assert cfg.buffer_bytes["q"] == 53 * 1024
    assert cfg.allocation.policy is AllocationPolicy.PROPORTIONAL
    assert cfg.codec.enabled and cfg.codec.compression_ratio == 0.5
    assert cfg.codec.compressed_heads(3) == 2
    assert cfg.codec.compressed_heads(12) == 6
    assert cfg.energy.technology_nm == 28
    assert cfg.data_bits == 8 and cfg.bytes_per_element == 1


@pytest.mark.parametrize("name", ["systolic-os", "systolic-ws"])
def test_systolic_presets_are_dense_32x32_on_the_vitcod_basis(name):
    cfg = load_hardware(name)
    vitcod = load_hardware("vitcod")
    assert cfg.engines.dense.kind is DenseEngineKind.SYSTOLIC
    assert (cfg.engines.dense.rows, cfg.engines.dense.cols) == (32, 32)
    assert cfg.engines.dense.dataflow is Dataflow(name.split("-")[1])
    assert not cfg.engines.sparse.enabled
    assert not cfg.lines_shared
    assert cfg.dense_macs == cfg.total_macs == 1024
    assert cfg.codec_macs == 0
    assert cfg.clock_mhz == vitcod.clock_mhz
    assert cfg.dram == vitcod.dram
    assert cfg.buffers == vitcod.buffers
    same_energy = dataclasses.replace(cfg.energy, leakage_mw=vitcod.energy.leakage_mw)
    assert same_energy == vitcod.energy


@pytest.mark.parametrize("name", PRESETS)
def test_preset_dram_energy_is_the_default_of_its_kind(name):
    cfg = load_hardware(name)
    assert cfg.energy.dram_pj_per_byte == pytest.approx(cfg.dram.kind.default_pj_per_byte)


def _has_source(lines: list[str], i: int) -> bool:
    """Line ``i`` carries a comment, or a comment block sits right above it."""
    if "#" in lines[i]:
        return True
    return i > 0 and lines[i - 1].lstrip().startswith("#")


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_constant_has_a_comment(name):
    """Each value line, or one of the sections enclosing it, cites where it comes from."""
    text = (
        resources.files("vitsim.hw_configs")
        .joinpath("presets", "accelerators")
        .joinpath(f"{name}.yaml")
        .read_text()
    )
    lines = text.splitlines()
    for i, line in enumerate(lines):
        value = line.split("#", 1)[0]
        if not value.strip() or value.rstrip().endswith(":") or value.startswith("name:"):
            continue
        covered = _has_source(lines, i)
        indent = len(value) - len(value.lstrip())
        j = i
        while not covered and indent > 0 and j > 0:
            j -= 1
            parent = lines[j].split("#", 1)[0]
            parent_indent = len(parent) - len(parent.lstrip())
            if parent.strip() and parent_indent < indent:
                covered = _has_source(lines, j)
                indent = parent_indent
        assert covered, f"{name}.yaml line {i + 1} cites no source: {line.strip()}"


# --------------------------------------------------------------------------------------
# Frozen values, properties
# --------------------------------------------------------------------------------------


def test_configs_are_frozen_and_hashable():
    cfg = load_hardware("vitcod")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.clock_mhz = 1000  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.mac_array.n_lines = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        table = load_hardware("vitcod-released").energy.sram_read_pj_per_byte
        table.q = 0.0  # type: ignore[misc,union-attr]
    assert len({cfg, load_hardware("vitcod")}) == 1


def test_construction_checks_values_too():
    with pytest.raises(ConfigError, match="n_lines: must be a positive integer"):
        MacArray(n_lines=0, macs_per_line=8)
    with pytest.raises(ConfigError, match="expected an integer"):
        MacArray(n_lines=True, macs_per_line=8)
    with pytest.raises(ConfigError, match="required when kind is systolic"):
        DenseEngine(kind=DenseEngineKind.SYSTOLIC)
    cfg = load_hardware("vitcod")
    with pytest.raises(ConfigError, match="clock_mhz"):
        dataclasses.replace(cfg, clock_mhz=-5.0)


def test_strings_become_enums_and_ints_become_floats():
    engine = DenseEngine(kind="systolic", rows=4, cols=4, dataflow="ws")  # type: ignore[arg-type]
    assert engine.kind is DenseEngineKind.SYSTOLIC and engine.dataflow is Dataflow.WS
    buf = Buffer(size_kib=53)
    assert isinstance(buf.size_kib, float)
    assert buf == Buffer(size_kib=53.0) and hash(buf) == hash(Buffer(size_kib=53.0))


def test_buffers_are_indexed_by_name():
    cfg = load_hardware("vitcod")
    assert tuple(b.value for b in BufferName) == BUFFER_NAMES
    assert tuple(f.name for f in dataclasses.fields(Buffers)) == BUFFER_NAMES
    assert tuple(f.name for f in dataclasses.fields(BufferEnergy)) == BUFFER_NAMES
    assert cfg.buffers["index"] is cfg.buffers[BufferName.INDEX]
    table = load_hardware("vitcod-released").energy.sram_read_pj_per_byte
    assert table[BufferName.Q] == table.q
    with pytest.raises(KeyError, match="unknown buffer"):
        cfg.buffers["idx"]


def test_unit_properties():
    cfg = load_hardware("vitcod")
    assert cfg.clock_hz == 500e6
    assert cfg.cycle_ns == pytest.approx(2.0)
    assert cfg.dram_bytes_per_second == pytest.approx(76.8e9)
    assert cfg.peak_macs_per_second == pytest.approx(512 * 500e6)
    assert cfg.codec_macs == 8 * 8  # the encoder's lines; the decoder runs on the array
    # logic 4.8 mW + SRAM by CACTI (3 x 4.03137 + 1.56971 + 8.19461 mW) = 26.658 mW;
    # for 2 ns: 53.32 pJ
    assert cfg.sram_leakage_mw == pytest.approx(3 * 4.03137 + 1.56971 + 8.19461)
    assert cfg.leakage_pj_per_cycle == pytest.approx(2 * 26.65843)


def test_compressed_heads_when_disabled_is_identity():
    codec = Codec(enabled=False, compression_ratio=0.5, encoder_lines=1, decoder_lines=1)
    assert codec.compressed_heads(12) == 12


def test_dram_kind_defaults():
    assert DramKind.HBM2.default_pj_per_byte == pytest.approx(31.2)
    assert DramKind.LPDDR4.default_pj_per_byte == pytest.approx(64.0)
    assert DramKind.DDR4.default_pj_per_byte == pytest.approx(162.5)


# --------------------------------------------------------------------------------------
# Strict loading: each problem is one ConfigError on one line naming the file and key
# --------------------------------------------------------------------------------------


def test_unknown_key_names_the_path_and_the_allowed_keys(tmp_path):
    data = _vitcod_dict()
    data["engines"]["sparse"]["row_polcy"] = "greedy"
    path = _write(tmp_path, data)
    err = _load_error(path)
    text = _assert_one_line(
        err, path, "engines.sparse.row_polcy: unknown key; allowed:", "enabled", "row_policy"
    )
    assert len(err.problems) == 1, text


def test_duplicate_key(tmp_path):
    text = (Path(__file__).parents[1] / "hw_configs" / "presets" / "accelerators"
            / "vitcod.yaml").read_text()
    text = text.replace("clock_mhz: 500", "clock_mhz: 500\nclock_mhz: 400", 1)
    path = _write(tmp_path, text)
    err = _load_error(path)
    _assert_one_line(err, path, "clock_mhz", "duplicate key")


def test_wrong_type(tmp_path):
    data = _vitcod_dict()
    data["mac_array"]["n_lines"] = 64.5
    path = _write(tmp_path, data)
    err = _load_error(path)
    _assert_one_line(err, path, "mac_array.n_lines", "expected an integer")
    assert len(err.problems) == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [("clock_mhz", True), ("mac_array.macs_per_line", False), ("dram.bandwidth_gb_per_s", "76.8")],
)
def test_bools_and_strings_are_not_numbers(tmp_path, key, value):
    data = _vitcod_dict()
    section, _, leaf = key.rpartition(".")
    (data[section] if section else data)[leaf] = value
    path = _write(tmp_path, data)
    err = _load_error(path)
    _assert_one_line(err, path, key, "expected")


def test_bool_field_rejects_a_number(tmp_path):
    data = _vitcod_dict()
    data["schedule"]["double_buffering"] = 1
    path = _write(tmp_path, data)
    _assert_one_line(_load_error(path), path, "schedule.double_buffering", "expected true or false")


def test_bad_enum_lists_the_allowed_values(tmp_path):
    data = _vitcod_dict()
    data["allocation"]["policy"] = "dynamic"
    path = _write(tmp_path, data)
    err = _load_error(path)
    _assert_one_line(
        err, path, "allocation.policy", "'dynamic'", "static", "proportional", "search"
    )


def test_zero_macs(tmp_path):
    data = _vitcod_dict()
    data["mac_array"]["macs_per_line"] = 0
    path = _write(tmp_path, data)
    _assert_one_line(_load_error(path), path, "mac_array.macs_per_line", "positive")


def test_negative_bandwidth(tmp_path):
    data = _vitcod_dict()
    data["dram"]["bandwidth_gb_per_s"] = -76.8
    path = _write(tmp_path, data)
    _assert_one_line(_load_error(path), path, "dram.bandwidth_gb_per_s", ">= 0.001")
    data["dram"]["bandwidth_gb_per_s"] = 1e-300  # once accepted: infinite stalls
    path = _write(tmp_path, data, "tiny.yaml")
    _assert_one_line(_load_error(path), path, "dram.bandwidth_gb_per_s", ">= 0.001")


def test_missing_energy_entry(tmp_path):
    data = _table_dict()
    del data["energy"]["sram_write_pj_per_byte"]["index"]
    path = _write(tmp_path, data)
    err = _load_error(path)
    _assert_one_line(err, path, "energy.sram_write_pj_per_byte.index", "missing")
    assert len(err.problems) == 1


def test_extra_energy_entry(tmp_path):
    data = _table_dict()
    data["energy"]["sram_read_pj_per_byte"]["l2"] = 5.0
    path = _write(tmp_path, data)
    _assert_one_line(
        _load_error(path), path, "energy.sram_read_pj_per_byte.l2", "unknown key", "activation"
    )


def test_missing_buffer(tmp_path):
    data = _vitcod_dict()
    del data["buffers"]["weight"]
    path = _write(tmp_path, data)
    _assert_one_line(_load_error(path), path, "buffers.weight", "missing")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("allocation.static_dense_fraction", 1.5, "in [0, 1]"),
        ("allocation.static_dense_fraction", -0.1, "in [0, 1]"),
        ("codec.compression_ratio", 0.0, "in (0, 1]"),
        ("codec.compression_ratio", 1.01, "in (0, 1]"),
        ("clock_mhz", 0, "positive"),
        ("energy.mac_pj", -0.1, "non-negative"),
        ("energy.dram_pj_per_byte", float("nan"), "finite"),
        ("softmax.ops_per_cycle", 0, "positive"),
    ],
)
def test_impossible_values(tmp_path, key, value, fragment):
    data = _vitcod_dict()
    section, _, leaf = key.rpartition(".")
    node = data
    for part in section.split(".") if section else []:
        node = node[part]
    node[leaf] = value
    path = _write(tmp_path, data)
    _assert_one_line(_load_error(path), path, key, fragment)


def test_zero_buffer_size(tmp_path):
    data = _vitcod_dict()
    data["buffers"]["index"]["size_kib"] = 0
    path = _write(tmp_path, data)
    _assert_one_line(_load_error(path), path, "buffers.index.size_kib", "positive")


def test_systolic_fields_only_with_a_systolic_engine(tmp_path):
    data = _vitcod_dict()
    data["engines"]["dense"]["rows"] = 32
    path = _write(tmp_path, data)
    _assert_one_line(
        _load_error(path), path, "engines.dense.rows", "only allowed when kind is systolic"
    )

    data = to_dict(load_hardware("systolic-os"))
    del data["engines"]["dense"]["dataflow"]
    path = _write(tmp_path, data, "sys.yaml")
    _assert_one_line(
        _load_error(path), path, "engines.dense.dataflow", "required when kind is systolic"
    )


def test_several_problems_are_all_reported(tmp_path):
    data = _table_dict()
    data["engines"]["sparse"]["row_polcy"] = "greedy"
    data["mac_array"]["n_lines"] = 0
    data["dram"]["kind"] = "ddr5"
    data["clock_mhz"] = "fast"
    del data["energy"]["sram_read_pj_per_byte"]["q"]
    data["buffers"]["v"]["size_kib"] = -1
    path = _write(tmp_path, data)
    err = _load_error(path)
    fields = [f for f, _ in err.problems]
    assert set(fields) == {
        "engines.sparse.row_polcy",
        "mac_array.n_lines",
        "dram.kind",
        "clock_mhz",
        "energy.sram_read_pj_per_byte.q",
        "buffers.v.size_kib",
    }
    text = _assert_one_line(err, path, *fields)
    assert text.count(str(path)) == len(fields)


def test_malformed_yaml_names_the_file(tmp_path):
    path = _write(tmp_path, "name: vitcod\nmac_array: {n_lines: 64, macs_per_line: 8\n")
    err = _load_error(path)
    _assert_one_line(err, path, "malformed YAML")


def test_not_a_mapping_and_empty_file(tmp_path):
    path = _write(tmp_path, "- 1\n- 2\n")
    _assert_one_line(_load_error(path), path, "expected a mapping")
    path = _write(tmp_path, "", "empty.yaml")
    _assert_one_line(_load_error(path), path, "empty document")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    _assert_one_line(_load_error(path), path, "no such file")


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        load_hardware("vitcodd")
    text = str(info.value)
    assert "unknown hardware preset 'vitcodd'" in text
    for name in PRESETS:
        assert name in text
    assert isinstance(info.value, VitsimError)


# --------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------


def test_overrides_change_values_and_keep_the_rest():
    cfg = load_hardware("vitcod")
    new = apply_overrides(
        cfg,
        [
            "dram.bandwidth_gb_per_s=153.6",
            "allocation.policy=static",
            "allocation.static_dense_fraction=0.25",
        ],
    )
    assert new.dram.bandwidth_gb_per_s == 153.6
    assert new.allocation.policy is AllocationPolicy.STATIC
    assert new.allocation.static_dense_fraction == 0.25
    assert dataclasses.replace(new, dram=cfg.dram, allocation=cfg.allocation) == cfg
    assert cfg.dram.bandwidth_gb_per_s == 76.8  # the original is untouched


def test_overrides_from_a_mapping():
    cfg = load_hardware("vitcod-released")
    new = apply_overrides(cfg, {"energy.sram_read_pj_per_byte.q": 3.0, "codec.enabled": False})
    assert new.energy.sram_read_pj_per_byte.q == 3.0
    assert not new.codec.enabled
    assert apply_overrides(cfg, []) is cfg


def test_overrides_switch_the_dense_engine_kind():
    cfg = load_hardware("vitcod")
    systolic = apply_overrides(
        cfg,
        [
            "engines.dense.kind=systolic",
            "engines.dense.rows=16",
            "engines.dense.cols=32",
            "engines.dense.dataflow=ws",
        ],
    )
    assert systolic.engines.dense.n_systolic_macs == 512
    back = apply_overrides(
        systolic,
        [
            "engines.dense.kind=mac_lines",
            "engines.dense.rows=null",
            "engines.dense.cols=null",
            "engines.dense.dataflow=null",
        ],
    )
    assert back == cfg


def test_bad_override_path_names_the_path_and_allowed_keys():
    cfg = load_hardware("vitcod")
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, ["dram.bandwith_gb_per_s=1"])
    text = str(info.value)
    assert "dram.bandwith_gb_per_s" in text
    assert "allowed: bandwidth_gb_per_s, kind" in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("no_equals_sign", "KEY.PATH=VALUE"),
        ("dram=1", "is a section"),
        ("clock_mhz.ghz=1", "is a value, not a section"),
        ("dram..kind=hbm2", "empty key"),
        ("engines.sparse.row_policy=[a, b]", "single value"),
    ],
)
def test_malformed_overrides(override, fragment):
    with pytest.raises(ConfigError, match=r".") as info:
        apply_overrides(load_hardware("vitcod"), [override])
    assert fragment in str(info.value)


def test_overrides_are_revalidated():
    cfg = load_hardware("vitcod")
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, ["mac_array.n_lines=0", "engines.sparse.row_policy=fastest"])
    fields = {f for f, _ in info.value.problems}
    assert fields == {"mac_array.n_lines", "engines.sparse.row_policy"}
    assert "round_robin, greedy" in str(info.value)
    with pytest.raises(ConfigError, match="missing required key"):
        apply_overrides(cfg, ["clock_mhz=null"])


def test_overriding_every_energy_by_a_factor_scales_them():
    cfg = load_hardware("vitcod-released")  # a table-priced preset
    energy = to_dict(cfg)["energy"]
    overrides = {}
    for key, value in energy.items():
        if key in ("technology_nm", "sram_model"):
            continue
        if isinstance(value, dict):
            overrides.update({f"energy.{key}.{b}": 2 * e for b, e in value.items()})
        else:
            overrides[f"energy.{key}"] = 2 * value
    doubled = apply_overrides(cfg, overrides)
    for name in BUFFER_NAMES:
        assert math.isclose(
            doubled.energy.sram_read_pj_per_byte[name], 2 * cfg.energy.sram_read_pj_per_byte[name]
        )
    assert doubled.energy.mac_pj == 2 * cfg.energy.mac_pj


def test_atomic_output_dir_appears_whole_or_not_at_all(tmp_path):
    from vitsim.atomic import atomic_output_dir

    out = tmp_path / "run"
    with pytest.raises(RuntimeError), atomic_output_dir(out) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("stopped half-way")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with atomic_output_dir(out) as tmp:
        (tmp / "whole.txt").write_text("x")
    assert [p.name for p in out.iterdir()] == ["whole.txt"]
    with pytest.raises(VitsimError, match="not empty") as err, atomic_output_dir(out):
        pass
    assert err.value.source == str(out)
    assert [p.name for p in out.iterdir()] == ["whole.txt"]  # untouched


def test_codec_keeps_the_heads_vitcod_trained():
    """ViTCoD's model code: ceil(h / 2), but LeViT's attention 3 -> 2, 5 -> 3, 6 -> 4."""
    from vitsim.workloads.model_spec import get_spec

    vitcod = load_hardware("vitcod")
    trained = {(b.n_heads, vitcod.codec.compressed_heads(b.n_heads, b.ae_heads))
               for b in get_spec("levit-192").blocks if b.square}
    assert trained == {(3, 2), (5, 3), (6, 4)}
    deit = {b.ae_heads for name in ("deit-tiny", "deit-small", "deit-base")
            for b in get_spec(name).blocks}
    assert deit == {2, 3, 6}
    by_ratio = apply_overrides(vitcod, ["codec.heads=ratio"])
    assert by_ratio.codec.compressed_heads(6, 4) == 3
    assert vitcod.codec.compressed_heads(7, None) == 4  # no trained size: the ratio
    off = apply_overrides(vitcod, ["codec.enabled=false"])
    assert off.codec.compressed_heads(6, 4) == 6


def test_override_exponents_without_a_dot_are_numbers():
    """YAML 1.1 reads 1e3 as a string; an override on the command line means the number."""
    cfg = load_hardware("vitcod")
    assert apply_overrides(cfg, ["dram.bandwidth_gb_per_s=1e3"]).dram.bandwidth_gb_per_s == 1e3
    assert apply_overrides(cfg, ["energy.mac_pj=2E-1"]).energy.mac_pj == 0.2
    with pytest.raises(ConfigError, match="at most 1000000000000, got 1e"):
        apply_overrides(cfg, ["dram.bandwidth_gb_per_s=1e300"])
    assert apply_overrides(cfg, ["name=1e3x"]).name == "1e3x"  # not a number: stays text


def test_plain_section_is_a_fresh_copy_of_plain_data():
    """apply_overrides changes the section data it gets; the memoised text must not leak
    one point's change into the next."""
    from vitsim.hw_configs.loader import _plain_section, plain_data

    hw = load_hardware("vitcod")
    first = _plain_section(hw.buffers)
    assert first == plain_data(hw.buffers)
    first["q"]["size_kib"] = -1
    assert _plain_section(hw.buffers) == plain_data(hw.buffers)
    a = apply_overrides(hw, ["buffers.q.size_kib=64"])
    b = apply_overrides(hw, ["buffers.k.size_kib=64"])
    assert a.buffers.q.size_kib == 64 and a.buffers.k.size_kib == hw.buffers.k.size_kib
    assert b.buffers.k.size_kib == 64 and b.buffers.q.size_kib == hw.buffers.q.size_kib
