"""Running the ``vitsim`` CLI in-process for the CLI smoke tests."""

from __future__ import annotations

from vitsim.analysis.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """``main([...])`` as a user would run it: (exit status, stdout, stderr)."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err
