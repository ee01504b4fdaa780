"""The ``vitsim`` command: ``main`` builds the parser from one module per command family
(``workloads``: trace, inspect, plot-mask; ``simulate``: simulate, gemm, validate;
``baseline``; ``compare``: compare, reproduce; ``sweep``: sweep, plot, report; ``models``:
the torch commands, which import :mod:`vitsim.models` only when they run) and ``args`` holds
the shared argument types."""

from vitsim.analysis.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
