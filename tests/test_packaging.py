"""Every source package of the repository is installed: a folder with an ``__init__.py`` under a
root package must be listed in pyproject's ``packages`` (the explicit list maps the root
folders onto ``vitsim.*``; a subpackage left out installs nowhere and fails only after install).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOT_PACKAGES = ("vitsim", "workloads", "hw_configs", "simulator", "analysis", "models")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_every_subpackage_is_listed() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        # the root package's folder is vitsim/ itself; the others install under it
        ".".join(("vitsim", *init.parent.relative_to(ROOT).parts)).replace("vitsim.vitsim",
                                                                            "vitsim")
        for top in ROOT_PACKAGES
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages have no folder"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_licence_and_typing_marker_ship() -> None:
    """The Apache-2.0 text is in the repository and declared for the wheel (SPDX expression
    with license-files); ``py.typed`` marks the package as typed (PEP 561)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = config["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert (ROOT / "vitsim" / "py.typed").is_file()
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["vitsim"]
    versions = {c.rsplit(" ", 1)[-1] for c in project["classifiers"]
                if c.startswith("Programming Language :: Python :: 3.")}
    assert versions >= {"3.10", "3.11", "3.12", "3.13"}
