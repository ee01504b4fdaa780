"""The layering contract: the core packages never import torch, pandas or matplotlib.

``simulator``, ``workloads`` and ``hw_configs`` must run where only numpy, numba and pyyaml
are installed; only ``models`` imports torch and only ``analysis`` builds DataFrames and
figures. Checked on the source (every import statement, including ones inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ("simulator", "workloads", "hw_configs")
FORBIDDEN = {
    "simulator": {"torch", "pandas", "matplotlib", "vitsim.analysis", "vitsim.models"},
    "workloads": {"torch", "pandas", "matplotlib", "vitsim.analysis", "vitsim.models",
                  "vitsim.simulator"},
    "hw_configs": {"torch", "pandas", "matplotlib", "vitsim.analysis", "vitsim.models",
                   "vitsim.simulator", "vitsim.workloads"},
    "analysis": {"torch", "vitsim.models"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# The command line is the top layer: its modules may use vitsim.models (and so torch), but
# only inside the command functions, so building the parser never imports torch.
LAZY_ALLOWED = {"analysis": ("cli*.py", {"vitsim.models"})}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(package: str) -> list[str]:
    bad = []
    pattern, lazy = LAZY_ALLOWED.get(package, ("", set()))
    for path in sorted((ROOT / package).rglob("*.py")):
        imports = _imports(path)
        if pattern and path.match(pattern):
            # allowed inside functions: drop them unless imported at module level
            top = _top_level_imports(path)
            imports = {n for n in imports
                       if not any(n == a or n.startswith(a + ".") for a in lazy) or n in top}
        for name in imports:
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package: str) -> None:
    assert _violations(package) == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    src = tmp_path / "x.py"
    src.write_text("def f():\n    import torch.nn\n    from pandas import DataFrame\n")
    assert _imports(src) >= {"torch.nn", "pandas"}


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
