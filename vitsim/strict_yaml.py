"""Strict YAML: safe loading that rejects duplicate keys, and schema checks on the result.

PyYAML's ``safe_load`` silently keeps the last of two equal keys; a preset that loses a block
that way is a silent wrong answer, so duplicates are an error here, with the line they are on.

A YAML file small on disk can be huge in memory: aliases repeat a node without copying it, and
every consumer that walks the result (validation, hashing, JSON) walks the expansion. So the
node graph is measured before anything is constructed, counting each alias as the size of what
it repeats, and a document over :data:`MAX_EXPANDED_NODES` is refused (a "billion laughs" file
in milliseconds, with its nodes only). Keys must be scalars: a list or mapping as a key is
refused with its line, rather than a TypeError when Python hashes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vitsim.errors import ConfigError

MAX_EXPANDED_NODES = 1_000_000  # far above any real description (a preset has ~200 nodes)
MAX_TEXT_CHARS = 16 * 1024 * 1024  # a description, not a data file


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings refuse duplicate and non-scalar keys."""


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def expanded_size(root: yaml.Node, budget: int = MAX_EXPANDED_NODES) -> int:
    """The number of nodes ``root`` stands for with every alias expanded, computed on the
    composed graph (each distinct node once, memoised by identity); a :class:`ConfigError`
    as soon as the count passes ``budget`` or an alias refers to a node that contains it."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # Iterative post-order walk: deep nesting must not hit Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        ident = id(node)
        if expanded:
            active.discard(ident)
            total = 1
            if isinstance(node, yaml.SequenceNode):
                total += sum(sizes[id(c)] for c in node.value)
            elif isinstance(node, yaml.MappingNode):
                total += sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
            if total > budget:
                raise ConfigError([(_where(node), f"the document expands (through aliases) to "
                                                  f"more than {budget:,} values; refused")])
            sizes[ident] = total
            continue
        if ident in sizes:
            continue
        if ident in active:
            raise ConfigError([(_where(node), "an alias refers to a node that contains it "
                                              "(recursive structure); refused")])
        active.add(ident)
        stack.append((node, True))
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        else:
            children = []
        for child in children:
            if id(child) in active:
                raise ConfigError([(_where(child), "an alias refers to a node that contains "
                                                   "it (recursive structure); refused")])
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
            raise ConfigError([(_where(key_node), f"a {kind} used as a mapping key; keys must "
                                                  "be single values")])
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
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError([("", f"{len(text):,} characters; a description is at most "
                                f"{MAX_TEXT_CHARS:,}")], source=source or "<yaml>")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        return loader.construct_document(node)
    except ConfigError as err:
        raise err.with_source(source or "<yaml>") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError([(where, f"malformed YAML: {problem}")], source=source) from None
    except RecursionError:
        raise ConfigError([("", "nested too deeply")], source=source or "<yaml>") from None
    finally:
        loader.dispose()


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
