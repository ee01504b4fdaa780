"""The command line's habits: --version, -q/-v, vitsim list, defaults and an example in
every --help."""

from __future__ import annotations

import json

import pytest
from cli_runner import run

import vitsim
from vitsim.analysis.cli.main import EXAMPLES, build_parser


def test_version(capsys) -> None:
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.strip() == f"vitsim {vitsim.__version__}"


def test_list_all_and_one_kind(capsys) -> None:
    rc, out, _ = run(capsys, "list")
    assert rc == 0
    for name in ("vitcod", "deit-tiny", "jetson-tx2", "sanger", "quick"):
        assert f"  {name}\n" in out
    rc, out, _ = run(capsys, "list", "presets")
    assert rc == 0 and out.split() == ["systolic-os", "systolic-ws", "vitcod", "vitcod-released"]
    rc, out, _ = run(capsys, "list", "sweeps", "--json")
    assert rc == 0 and "quick" in json.loads(out)["sweeps"]
    rc, _, err = run(capsys, "list", "nonsense")
    assert rc == 2 and "invalid choice" in err


def _subcommands():
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return action.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_help_has_an_example(name: str) -> None:
    command = _subcommands()[name]
    assert name in EXAMPLES
    text = command.format_help()
    assert "example:" in text and EXAMPLES[name] in text


def test_help_shows_defaults() -> None:
    text = _subcommands()["simulate"].format_help()
    assert "(default: 0)" in text  # --seed
    assert "(default: None)" not in text and "(default: False)" not in text


def test_quiet_silences_the_progress_bar(capsys, tmp_path) -> None:
    from vitsim.progress import ProgressBar, set_quiet

    rc, _, err = run(capsys, "-q", "reproduce", "--models", "deit-tiny")
    assert rc == 0 and "reproduce" not in err
    set_quiet(False)
    rc, _, err = run(capsys, "reproduce", "--models", "deit-tiny")
    assert rc == 0 and "reproduce" in err and "1/1" in err
    assert ProgressBar(3).enabled


def test_verbose_and_quiet_exclude_each_other(capsys) -> None:
    rc, _, err = run(capsys, "-q", "-v", "list")
    assert rc == 2 and "not allowed" in err
