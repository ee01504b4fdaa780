"""Shared pieces of the ``vitsim`` command line: the one-line-error parser, argument types,
and JSON output. Every subcommand module (``cli``, ``cli_*`` and ``vitsim.analysis.cli.models``)
builds on these, so the CLI behaves the same everywhere."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, NoReturn

EXIT_USAGE = 2


class HelpFormatter(argparse.HelpFormatter):
    """Each option's default at the end of its help (when it has one worth saying: not
    None, False or empty); the examples epilog keeps its lines, descriptions are filled."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == argparse.SUPPRESS
        if (unset or (isinstance(default, (list, tuple, str)) and not default) or "default" in text
                or (action.option_strings == [] and action.nargs in ("?", "*"))):
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        return f"{text} (default: {default})" if text else f"default: {default}"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, like every other vitsim error, and
    whose help shows the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def sparsity(text: str) -> float:
    """A sparsity in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def fraction(text: str) -> float:
    """A fraction in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    value = nonnegative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN: unknown, inf: undefined ratio) as None,
    so the document is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def emit_json(doc: Any) -> None:
    """One standard JSON document on stdout (non-finite numbers become null)."""
    json.dump(json_safe(doc), sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


def hardware_from_args(args: Any) -> Any:
    """``--hw NAME|FILE`` with every ``--set KEY=VALUE`` applied."""
    from vitsim.hw_configs.loader import apply_overrides, load_hardware

    hw = load_hardware(args.hw)
    return apply_overrides(hw, args.set) if args.set else hw


def workload_from_args(args: Any) -> tuple[Any, dict[str, Any]]:
    """The trace of ``--trace FILE`` or of ``--model NAME --sparsity S [--seed N]``
    (synthetic), and the inputs that name it (for run records)."""
    from vitsim.errors import VitsimError
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic
    from vitsim.workloads.trace import WorkloadTrace

    if args.trace:
        if args.sparsity is not None:
            raise VitsimError("a trace has its own sparsity; drop --sparsity",
                              source="--sparsity")
        return WorkloadTrace.load(args.trace), {"trace": args.trace}
    if args.sparsity is None:
        raise VitsimError("required with --model", source="--sparsity")
    trace = trace_synthetic(get_spec(args.model), sparsity=args.sparsity, seed=args.seed)
    return trace, {"model": args.model, "sparsity": args.sparsity, "seed": args.seed,
                   "source": "synthetic"}

