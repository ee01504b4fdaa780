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


def _violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
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
