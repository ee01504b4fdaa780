"""Shared pieces of the golden-number tests: provenance and preset hashes."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vitsim.analysis.runs import versions

ROOT = Path(__file__).resolve().parents[1]


# The golden files name each preset as the layout did when they were made
# (``presets/`` for accelerators, ``platforms/``, ``peers/``); the presets now live in
# ``hw_configs/presets/<kind>/``. The keys change at the next reviewed regeneration.
_GOLDEN_KEY_FOLDER = {"accelerators": "presets", "platforms": "platforms", "peers": "peers"}


def preset_hashes(*kinds: str) -> dict[str, str]:
    """sha256 of every shipped YAML preset of ``kinds`` (``accelerators``, ``platforms``,
    ``peers``), keyed by file name (one kind) or ``<folder>/<file name>`` (several)."""
    return {f"{_GOLDEN_KEY_FOLDER[kind]}/{p.name}" if len(kinds) > 1 else p.name:
            hashlib.sha256(p.read_bytes()).hexdigest()
            for kind in kinds
            for p in sorted((ROOT / "hw_configs" / "presets" / kind).glob("*.yaml"))}


def git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                             check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.rstrip("\n")


def provenance(generated_by: str, tolerance: dict[str, str]) -> dict[str, Any]:
    changed = git("status", "--porcelain", "--untracked-files=no")
    return {
        "generated_by": generated_by,
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        # Tracked files that differed from that commit when the numbers were made.
        "git_uncommitted": [] if changed in ("", "unknown") else
        sorted(line[3:] for line in changed.splitlines()),
        "versions": versions(),
        "platform": platform.platform(),
        "tolerance": tolerance,
    }
