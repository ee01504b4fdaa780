"""Strict YAML: safe loading that rejects duplicate keys, and schema checks on the result.

PyYAML's ``safe_load`` silently keeps the last of two equal keys; a preset that loses a block
that way is a silent wrong answer, so duplicates are an error here, with the line they are on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vitsim.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings refuse duplicate keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise ConfigError(
                [(str(key), f"duplicate key (line {key_node.start_mark.line + 1})")]
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def loads_strict(text: str, *, source: str | None = None) -> Any:
    """Parse YAML text safely; duplicate keys and syntax errors raise :class:`ConfigError`."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except ConfigError as err:
        raise err.with_source(source or "<yaml>") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError([(where, f"malformed YAML: {problem}")], source=source) from None


def load_strict(path: str | Path) -> Any:
    """Read and parse a YAML file strictly; a missing or unreadable file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([("", "no such file")], source=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([("", f"cannot read: {err}")], source=str(path)) from None
    return loads_strict(text, source=str(path))


def check_keys(
    mapping: Any,
    *,
    path: str,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    problems: list[tuple[str, str]],
) -> dict:
    """Record unknown and missing keys of ``mapping`` (at key path ``path``) into ``problems``.

    Returns the mapping (or an empty dict when it is not a mapping, which is itself recorded),
    so that validation goes on and every problem is reported at once.
    """
    if not isinstance(mapping, dict):
        problems.append((path, f"expected a mapping, got {type(mapping).__name__}"))
        return {}
    allowed = (*required, *optional)
    for key in mapping:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            problems.append((where, f"unknown key; allowed: {', '.join(allowed)}"))
    for key in required:
        if key not in mapping:
            where = f"{path}.{key}" if path else key
            problems.append((where, "missing required key"))
    return mapping
