"""Loading, dumping and overriding hardware descriptions.

- :func:`load_hardware` takes a shipped preset name (``vitcod``) or a path to a YAML file.
- :func:`hardware_from_dict` validates a parsed mapping; every problem in it (unknown or
  missing keys, wrong types, bad enum values, impossible numbers) is reported at once in one
  :class:`~vitsim.errors.ConfigError` with key paths such as
  ``engines.sparse.row_polcy: unknown key; allowed: enabled, row_policy``.
- :func:`dump_hardware` writes YAML that loads back to an equal config.
- :func:`apply_overrides` changes a config by dotted key paths
  (``dram.bandwidth_gb_per_s=153.6``), the way a sweep varies hardware knobs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vitsim.atomic import atomic_output
from vitsim.errors import ConfigError, VitsimError
from vitsim.hw_configs.schema import (
    HardwareConfig,
    check_fields,
    optional_fields,
    required_fields,
    section_fields,
    section_type,
)
from vitsim.strict_yaml import check_keys, load_strict, loads_strict

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "apply_overrides",
    "dump_hardware",
    "hardware_from_dict",
    "known_presets",
    "load_hardware",
    "packaged_file",
    "packaged_names",
    "preset_path",
    "to_dict",
    "write_hardware",
]

_PRESET_SUFFIX = ".yaml"


# --------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------


# The shipped YAML lives under ``hw_configs/presets/<kind>/``, one folder per kind.
PRESET_KINDS = ("accelerators", "platforms", "peers")


def _preset_folder(kind: str) -> Traversable:
    if kind not in PRESET_KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; allowed: {', '.join(PRESET_KINDS)}")
    return resources.files("vitsim.hw_configs").joinpath("presets").joinpath(kind)


def packaged_names(kind: str) -> tuple[str, ...]:
    """Names (without ``.yaml``) of the shipped presets of ``kind`` (``accelerators``,
    ``platforms``, ``peers``: ``hw_configs/presets/<kind>/*.yaml``), sorted."""
    return tuple(sorted(
        entry.name[: -len(_PRESET_SUFFIX)]
        for entry in _preset_folder(kind).iterdir()
        if entry.is_file() and entry.name.endswith(_PRESET_SUFFIX)
    ))


def packaged_file(kind: str, name: str) -> Traversable:
    """The shipped preset ``name`` of ``kind`` (``hw_configs/presets/<kind>/<name>.yaml``;
    may not exist)."""
    return _preset_folder(kind).joinpath(name + _PRESET_SUFFIX)


def known_presets() -> tuple[str, ...]:
    """Names of the shipped accelerator presets, sorted
    (``hw_configs/presets/accelerators/*.yaml``)."""
    return packaged_names("accelerators")


def preset_path(name: str) -> Traversable:
    """The packaged file of preset ``name``; an unknown name lists the known ones."""
    entry = packaged_file("accelerators", name)
    if not entry.is_file():
        known = ", ".join(known_presets()) or "(none)"
        raise ConfigError([("", f"unknown hardware preset {name!r}; known: {known}")], source=name)
    return entry


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text


def load_hardware(name_or_path: str | os.PathLike[str]) -> HardwareConfig:
    """Load a hardware description: a shipped preset name (``"vitcod"``) or a YAML path.

    A string is a path when it ends in ``.yaml``/``.yml`` or contains a path separator;
    otherwise it is a preset name, and failing that an existing file of that name.
    """
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path)):
        path = Path(name_or_path)
        return hardware_from_dict(load_strict(path), source=str(path))
    name = str(name_or_path)
    if name in known_presets():
        entry = preset_path(name)
        source = str(entry)
        return hardware_from_dict(
            loads_strict(entry.read_text(encoding="utf-8"), source=source), source=source
        )
    if Path(name).is_file():
        return hardware_from_dict(load_strict(name), source=name)
    preset_path(name)  # raises, listing the known presets
    raise AssertionError("unreachable")


# Parsed descriptions by (file, modification time in ns, size): a sweep worker asks for the
# same peer preset at every point, and parsing YAML costs ~20 ms a time. Only validated,
# frozen configs are kept, so sharing one object is safe; a changed file is parsed again.
_PARSED: dict[tuple[str, str, int, int], Any] = {}
_PARSED_MAX = 64


def load_cached(path: str | os.PathLike[str] | Traversable, parse: Any, tag: str) -> Any:
    """``parse(path)`` (which reads and validates the file at ``path``), once per
    (``tag``, file, mtime, size) in this process; a path that cannot be stat'ed (a preset
    inside a zip) is parsed every time."""
    try:
        st = os.stat(str(path))
    except OSError:
        return parse(path)
    key = (tag, os.path.abspath(str(path)), st.st_mtime_ns, st.st_size)
    cfg = _PARSED.get(key)
    if cfg is None:
        cfg = parse(path)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = cfg
    return cfg


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def build_validated(cls: type, data: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    """Validate ``data`` as dataclass ``cls``; record problems; return the object or None."""
    required = required_fields(cls)
    mapping = check_keys(
        data, path=path, required=required, optional=optional_fields(cls), problems=problems
    )
    complete = isinstance(data, dict) and all(key in mapping for key in required)
    values: dict[str, Any] = {}
    any_bad = False
    for key in section_fields(cls):  # in field order, so problems read top to bottom
        if key not in mapping:
            continue
        sub = section_type(cls, key)
        if sub is None:
            coerced, field_problems = check_fields(cls, {key: mapping[key]})
            problems.extend((_join(path, k), msg) for k, msg in field_problems)
            any_bad = any_bad or bool(field_problems)
            values.update(coerced)
            continue
        child = build_validated(sub, mapping[key], _join(path, key), problems)
        if child is None:
            complete = False
        else:
            values[key] = child
    if any_bad or not complete:
        return None
    try:
        return cls(**values)
    except ConfigError as err:
        problems.extend((_join(path, key), msg) for key, msg in err.problems)
        return None


def hardware_from_dict(data: Any, *, source: str | None = None) -> HardwareConfig:
    """Validate a parsed YAML mapping into a :class:`HardwareConfig`.

    Raises one :class:`ConfigError` (attributed to ``source``) listing every problem.
    """
    if data is None:
        raise ConfigError(
            [("", "empty document; expected a hardware description mapping")], source=source
        )
    problems: list[tuple[str, str]] = []
    cfg = build_validated(HardwareConfig, data, "", problems)
    if problems or cfg is None:
        raise ConfigError(problems or [("", "invalid hardware description")], source=source)
    return cfg


# --------------------------------------------------------------------------------------
# Dumping
# --------------------------------------------------------------------------------------


def plain_data(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain_data(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [plain_data(v) for v in value]
    return value


def yaml_document(data: Any, header: str, *, width: int = 80) -> str:
    """``header`` (comment lines ending in a newline) then ``data`` as block-style YAML in
    field order: the form every description vitsim writes takes."""
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                                   allow_unicode=True, width=width)


def write_text_file(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def to_dict(cfg: HardwareConfig) -> dict[str, Any]:
    """The config as nested plain dicts (enums as their strings, absent fields left out)."""
    return plain_data(cfg)


def dump_hardware(cfg: HardwareConfig) -> str:
    """YAML text of ``cfg``; ``hardware_from_dict(loads_strict(text)) == cfg``."""
    return yaml_document(
        to_dict(cfg), f"# vitsim hardware description {cfg.name!r}, written by dump_hardware\n")


def write_hardware(cfg: HardwareConfig, path: str | os.PathLike[str]) -> Path:
    """Write :func:`dump_hardware` of ``cfg`` to ``path`` atomically; return the path."""
    return write_text_file(dump_hardware(cfg), path)


# --------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------


_YAML11_MISSED_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError([(key, "expected KEY.PATH=VALUE")], source=f"override {text!r}")
    parts = override_path(key)
    if any(not part for part in parts):
        raise ConfigError([(key, "empty key in dotted path")], source=f"override {text!r}")
    value = loads_strict(raw, source=f"override {text!r}")
    if isinstance(value, str) and _YAML11_MISSED_FLOAT.fullmatch(value.strip()):
        # YAML 1.1 reads 1e300 or 5E-3 (no dot) as strings; a command line means numbers.
        value = float(value)
    if isinstance(value, (dict, list)):
        raise ConfigError(
            [(key, "expected a single value (number, string, true/false, null)")],
            source=f"override {text!r}",
        )
    return parts, value


# The one override path syntax: a sweep axis names a hardware field
# ``hardware.dram.bandwidth_gb_per_s``; ``--set``, ``apply_overrides`` and the facade take the
# same path, the ``hardware.`` prefix optional (there is no hardware field named hardware).
HARDWARE_PREFIX = "hardware."


def override_path(key: str) -> list[str]:
    """The parts of a hardware override path, without the optional ``hardware.`` prefix."""
    return key.removeprefix(HARDWARE_PREFIX).split(".")


def _check_path(parts: list[str], text: str) -> None:
    """Every key of the path exists at its level, sections are not set, values not entered."""
    if tuple(parts) in _GOOD_PATHS:
        return
    _check_path_once(parts, text)
    _GOOD_PATHS.add(tuple(parts))


_GOOD_PATHS: set[tuple[str, ...]] = set()  # override paths checked already (a sweep repeats them)


def _check_path_once(parts: list[str], text: str) -> None:
    cls: type | None = HardwareConfig
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        if cls is None:
            parent = ".".join(parts[:depth])
            raise ConfigError(
                [(here, f"{parent} is a value, not a section")], source=f"override {text!r}"
            )
        allowed = section_fields(cls)
        if part not in allowed:
            raise ConfigError(
                [(here, f"unknown key; allowed: {', '.join(allowed)}")], source=f"override {text!r}"
            )
        cls = section_type(cls, part)
    if cls is not None:
        raise ConfigError(
            [
                (
                    ".".join(parts),
                    f"is a section; override one of its keys: {', '.join(section_fields(cls))}",
                )
            ],
            source=f"override {text!r}",
        )


def apply_overrides(
    cfg: HardwareConfig, overrides: Iterable[str] | Mapping[str, Any]
) -> HardwareConfig:
    """A copy of ``cfg`` with values changed by dotted key path, re-validated.

    ``overrides`` is a list of ``"KEY.PATH=VALUE"`` strings (VALUE parsed as a YAML scalar:
    ``153.6``, ``static``, ``true``) or a mapping ``{"KEY.PATH": value}``; a path may start
    with ``hardware.`` as a sweep axis does (``hardware.dram.bandwidth_gb_per_s=153.6``).
    A ``null`` value removes an optional key (``engines.dense.rows=null``). All overrides
    are applied before the result is validated, so related keys can change together
    (``engines.dense.kind=systolic`` with its ``rows``, ``cols`` and ``dataflow``).
    """
    if isinstance(overrides, Mapping):
        items = [(override_path(str(k)), v, f"{k}={v!r}") for k, v in overrides.items()]
    else:
        items = []
        for text in overrides:
            parts, value = _parse_override(text)
            items.append((parts, value, text))
    for parts, _, text in items:
        _check_path(parts, text)
    if not items:
        return cfg
    source = f"{cfg.name} with overrides"
    # Only the top-level sections an override touches are dumped, changed and validated
    # again; the others are ``cfg``'s own (already valid, frozen) objects. Any problem,
    # and a whole top-level key removed, take the full path below, so errors read as
    # they always did.
    touched = dict.fromkeys(parts[0] for parts, _, _ in items)
    if all(len(parts) > 1 for parts, _, _ in items):
        data = {key: _plain_section(getattr(cfg, key)) for key in touched
                if getattr(cfg, key) is not None}
        _apply_items(data, items)
        fast = _rebuild_sections(cfg, data, tuple(touched))
        if fast is not None:
            return fast
    data = to_dict(cfg)
    _apply_items(data, items)
    return hardware_from_dict(data, source=source)


# Sections' plain data as JSON text, by the (frozen, shared) section object: a sweep's points
# override a few sections of one base design, whose plain data would be dumped again for
# every point; a fresh copy is json.loads of the text (the caller changes it).
_PLAIN: dict[int, tuple[Any, str | None]] = {}
_PLAIN_MAX = 4096


def _plain_section(section: Any) -> Any:
    """``plain_data(section)``, a fresh copy each call."""
    hit = _PLAIN.get(id(section))
    if hit is not None and hit[0] is section:
        return plain_data(section) if hit[1] is None else json.loads(hit[1])
    data = plain_data(section)
    try:
        text: str | None = json.dumps(data)
    except (TypeError, ValueError):  # not JSON data: dump it every time
        text = None
    if len(_PLAIN) >= _PLAIN_MAX:
        _PLAIN.clear()
    _PLAIN[id(section)] = (section, text)
    return data


def _apply_items(data: dict[str, Any], items: list[tuple[list[str], Any, str]]) -> None:
    for parts, value, _ in items:
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value


# Validated sections by (class, key, JSON text of the raw mapping): a sweep's grid gives each
# section only as many distinct values as its axes have, however many points they make.
_SECTIONS: dict[tuple[type, str, str], Any] = {}
_SECTIONS_MAX = 4096


def _validated_section(sub: type, key: str, raw: Any) -> Any:
    """``build_validated(sub, raw, key, ...)`` memoised; None when ``raw`` has a problem."""
    try:
        text = json.dumps(raw, sort_keys=True)
    except (TypeError, ValueError):  # not plain data: validate it every time
        text = None
    if text is not None and (sub, key, text) in _SECTIONS:
        return _SECTIONS[(sub, key, text)]
    problems: list[tuple[str, str]] = []
    child = build_validated(sub, raw, key, problems)
    if child is None or problems:
        return None
    if text is not None:
        if len(_SECTIONS) >= _SECTIONS_MAX:
            _SECTIONS.pop(next(iter(_SECTIONS)))
        _SECTIONS[(sub, key, text)] = child
    return child


def _rebuild_sections(cfg: HardwareConfig, data: dict[str, Any],
                      touched: tuple[str, ...]) -> HardwareConfig | None:
    """``cfg`` with the top-level sections ``touched`` validated again from ``data`` (the
    rest kept as they are): what :func:`hardware_from_dict` gives for the whole document,
    or None when there is any problem (the caller then reports it the full way)."""
    cls = type(cfg)
    values: dict[str, Any] = {}
    for key in section_fields(cls):
        if key not in touched:
            value = getattr(cfg, key)
            if value is not None:  # as to_dict leaves it out and the default comes back
                values[key] = value
            continue
        if key not in data:
            continue
        sub = section_type(cls, key)
        if sub is None:
            coerced, field_problems = check_fields(cls, {key: data[key]})
            if field_problems:
                return None
            values.update(coerced)
            continue
        child = _validated_section(sub, key, data[key])
        if child is None:
            return None
        values[key] = child
    try:
        return cls(**values)
    except ConfigError:
        return None


def attribute_to_hardware(err: VitsimError, source: str) -> VitsimError:
    """``err`` named after the hardware description ``source`` (a file, a preset, or a preset
    with overrides) when it is about a hardware field and names no source yet: an error the
    simulator finds in a design (a buffer too small for one row) says which file to edit."""
    head = (err.field or "").split(".")[0]
    if err.source is None and head in section_fields(HardwareConfig):
        err.with_source(source)
    return err


def hardware_source(hw: str, overrides: Iterable[str] = ()) -> str:
    """How errors name a design given as ``--hw`` with ``--set`` overrides."""
    overrides = list(overrides)
    return f"{hw} (with --set {', '.join(overrides)})" if overrides else str(hw)
