"""The layering contract, checked on the source (every import statement, including ones
inside functions).

The layers, bottom up (``vitsim`` is the root package: the ground every layer may use):

- ``vitsim`` (errors, atomic files, strict YAML, progress bar): imports no subpackage;
- ``workloads`` (numpy): only the ground;
- ``hw_configs`` (YAML schemas): only the ground;
- ``simulator``: the ground, ``workloads``, ``hw_configs``; never ``analysis`` or ``models``;
- ``models`` (torch): only ``workloads`` and the ground;
- ``analysis`` (pandas, matplotlib, the CLI): everything but ``models``, which only the CLI's
  command modules may import, inside the command functions;
- nothing outside ``analysis`` imports ``analysis``.

``simulator``, ``workloads`` and ``hw_configs`` must run where only numpy, numba and pyyaml
are installed: they never import torch, pandas or matplotlib.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("workloads", "hw_configs", "simulator", "models", "analysis")
HEAVY = {"torch", "pandas", "matplotlib", "dask", "distributed", "pyarrow", "sklearn"}


def _sub(*names: str) -> set[str]:
    return {f"vitsim.{n}" for n in names}


# What each package may not import (a module or any of its submodules).
FORBIDDEN = {
    "vitsim": HEAVY | _sub(*SUBPACKAGES),
    "workloads": HEAVY | _sub("hw_configs", "simulator", "models", "analysis"),
    "hw_configs": HEAVY | _sub("workloads", "simulator", "models", "analysis"),
    "simulator": HEAVY | _sub("models", "analysis"),
    "models": {"pandas", "matplotlib", "dask", "distributed", "pyarrow"}
    | _sub("hw_configs", "simulator", "analysis"),
    "analysis": {"torch", "sklearn", "vitsim.models"},
}
# The root package's facade reaches the subpackages only inside its functions (so
# ``import vitsim`` stays cheap), and ``python -m vitsim`` is the CLI: for the root package
# only module-level imports count, and ``__main__.py`` is the entry point.
TOP_LEVEL_ONLY = {"vitsim"}
ENTRY_POINTS = {"vitsim/__main__.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# The command line is the top layer: its modules may use vitsim.models and torch, but
# only inside the command functions, so building the parser never imports torch.
LAZY_ALLOWED = {"analysis": ("cli/*.py", {"vitsim.models", "torch"}),
                # A result's to_frame() hands a notebook its DataFrame; pandas is imported
                # inside that method only, so the simulator still runs without it.
                "simulator": ("results.py", {"pandas"})}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _matches(name: str, banned: str) -> bool:
    return name == banned or name.startswith(banned + ".")


def _violations(package: str) -> list[str]:
    bad = []
    pattern, lazy = LAZY_ALLOWED.get(package, ("", set()))
    for path in sorted((ROOT / package).rglob("*.py")):
        if str(path.relative_to(ROOT)) in ENTRY_POINTS:
            continue
        imports = _top_level_imports(path) if package in TOP_LEVEL_ONLY else _imports(path)
        if pattern and path.match(pattern):
            # allowed inside functions: drop them unless imported at module level
            top = _top_level_imports(path)
            imports = {n for n in imports
                       if not any(_matches(n, a) for a in lazy) or n in top}
        for name in imports:
            for banned in FORBIDDEN[package]:
                if _matches(name, banned):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package: str) -> None:
    assert _violations(package) == []


def test_every_package_has_a_contract() -> None:
    assert set(FORBIDDEN) == {"vitsim", *SUBPACKAGES}


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    src = tmp_path / "x.py"
    src.write_text("def f():\n    import torch.nn\n    from pandas import DataFrame\n")
    assert _imports(src) >= {"torch.nn", "pandas"}


def test_ground_imports_no_subpackage() -> None:
    """``import vitsim`` loads nothing of the subpackages (a notebook's first line is cheap)."""
    import subprocess
    import sys

    code = ("import sys, vitsim; "
            "bad = sorted(m for m in sys.modules if m.startswith('vitsim.')); "
            "sys.exit(f'imported {bad}' if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_cli_parser_imports_no_torch() -> None:
    """Building the whole parser (every subcommand module included) never imports torch:
    torch is optional and slow to import, so a command needs it only when it runs."""
    import subprocess
    import sys

    code = ("import sys; from vitsim.analysis.cli import build_parser; build_parser(); "
            "bad = [m for m in ('torch', 'dask', 'distributed') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
