"""The ``vitsim`` command line.

Every subcommand is a plain function of its parsed arguments that calls the pipeline; a
:class:`VitsimError` becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from vitsim.analysis.cli import args as cli_args
from vitsim.errors import VitsimError

log = logging.getLogger("vitsim")

EXIT_USAGE = cli_args.EXIT_USAGE


# Every command family lives in its own module, which defines ``add_subcommands(sub)`` and
# imports its heavy dependencies (torch, dask) only inside the command functions, so
# ``vitsim --help`` stays fast and torch stays optional. Listed in the order of the pipeline.
_COMMAND_MODULES: tuple[str, ...] = (
    "vitsim.analysis.cli.workloads",
    "vitsim.analysis.cli.simulate",
    "vitsim.analysis.cli.baseline",
    "vitsim.analysis.cli.compare",
    "vitsim.analysis.cli.sweep",
    "vitsim.analysis.cli.models",
    "vitsim.analysis.cli.listing",
)

# One example per command, shown at the end of its --help.
EXAMPLES: dict[str, str] = {
    "trace": "vitsim trace --synthetic --model deit-tiny --sparsity 0.9 --out deit-tiny.npz",
    "inspect": "vitsim inspect deit-tiny.npz",
    "plot-mask": "vitsim plot-mask deit-tiny.npz --layer 2 --head 0 --out l2h0.png",
    "simulate": "vitsim simulate --hw vitcod --model deit-tiny --sparsity 0.9 "
                "--set hardware.dram.bandwidth_gb_per_s=153.6",
    "gemm": "vitsim gemm --array 32x32 --dataflow os --m 197 --k 192 --n 576",
    "validate": "vitsim validate my-accelerator.yaml",
    "baseline": "vitsim baseline --platform jetson-tx2 --model deit-tiny --sparsity 0.9",
    "compare": "vitsim compare --hw vitcod --model deit-base --sparsity 0.9 "
               "--baselines rtx-2080ti sanger",
    "reproduce": "vitsim reproduce --out vitcod-reproduction --seeds 0 1 2",
    "sweep": "vitsim sweep quick --out runs/quick",
    "plot": "vitsim plot runs/quick --kind all --out figs",
    "report": "vitsim report runs/quick --out quick.html",
    "codesign-demo": "vitsim codesign-demo --out demo",
    "extract": "vitsim extract --model model.yaml --checkpoint ckpt.pt --images imgs.npz "
               "--out maps.npz",
    "prune": "vitsim prune maps.npz --sparsity 0.9 --out masks.npz",
    "finetune": "vitsim finetune --model model.yaml --masks masks.npz --out ft",
    "list": "vitsim list presets",
}

# The optional dependencies, by import name: the extra that installs each.
OPTIONAL_EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "models"),
    "sklearn": ("scikit-learn", "models"),
    "dask": ("dask", "sweep"),
    "distributed": ("dask.distributed", "sweep"),
    "pyarrow": ("pyarrow", "sweep"),
    "bokeh": ("bokeh", "sweep"),
    "plotly": ("plotly", "interactive"),
}


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """One line saying which extra installs the module ``err`` did not find, or None when it
    is not an optional dependency (a broken install, to be shown as it is)."""
    top = (err.name or "").split(".")[0]
    if top not in OPTIONAL_EXTRAS:
        return None
    package, extra = OPTIONAL_EXTRAS[top]
    return f'needs {package}, which is not installed: pip install "vitsim[{extra}]"'


def _configure_logging(*, verbose: bool, quiet: bool = False) -> None:
    """Route the ``vitsim`` loggers to stderr; the root logger (and pytest's) is left alone."""
    logger = logging.getLogger("vitsim")
    for handler in [h for h in logger.handlers if getattr(h, "_vitsim_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("vitsim: %(levelname)s: %(message)s"))
    handler._vitsim_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = cli_args.Parser(prog="vitsim", description="Sparse Vision-Transformer accelerator "
                     "simulator (ViTCoD and its peers).")
    from vitsim import __version__

    parser.add_argument("--version", action="version", version=f"vitsim {__version__}")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="store_true", help="log progress")
    noise.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars, warnings only as errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=cli_args.Parser)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_subcommands(sub)
    for name, command in sub.choices.items():
        if name in EXAMPLES and not command.epilog:
            command.epilog = f"example:\n  {EXAMPLES[name]}"
    parser.epilog = ("examples:\n  vitsim list\n  " + EXAMPLES["simulate"] + "\n  "
                     + EXAMPLES["reproduce"] + "\n\nvitsim COMMAND --help for each command.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(verbose=args.verbose, quiet=args.quiet)
    from vitsim.progress import set_quiet

    set_quiet(args.quiet)
    try:
        return int(args.func(args))
    except VitsimError as err:
        if getattr(args, "hw", None):  # found while simulating: name the design's file
            from vitsim.hw_configs.loader import attribute_to_hardware, hardware_source

            attribute_to_hardware(err, hardware_source(args.hw, getattr(args, "set", None) or ()))
        print(f"vitsim: error: {err.one_line()}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as err:
        line = missing_extra(err)
        if line is None:
            raise
        print(f"vitsim: error: {args.command}: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vitsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        sys.stdout = open(os.devnull, "w")
        return 141


if __name__ == "__main__":
    sys.exit(main())
