"""``vitsim list``: what ships with vitsim, by kind (hardware presets, models, platforms,
peers, example sweeps), so a name never has to be guessed."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from vitsim.analysis.cli.args import emit_json


def _presets() -> tuple[str, ...]:
    from vitsim.hw_configs.loader import known_presets

    return known_presets()


def _models() -> tuple[str, ...]:
    from vitsim.workloads.model_spec import known_models

    return known_models()


def _platforms() -> tuple[str, ...]:
    from vitsim.hw_configs.platforms import known_platforms

    return known_platforms()


def _peers() -> tuple[str, ...]:
    from vitsim.hw_configs.peers import known_peers

    return known_peers()


def _sweeps() -> tuple[str, ...]:
    from vitsim.analysis.sweeps.spec import shipped_sweeps

    return shipped_sweeps()


# kind -> (what it is and where it is used, the names)
KINDS: dict[str, tuple[str, Callable[[], tuple[str, ...]]]] = {
    "presets": ("accelerator presets (--hw)", _presets),
    "models": ("model shapes (--model; also a spec .yaml file)", _models),
    "platforms": ("CPU/GPU platforms (baselines)", _platforms),
    "peers": ("peer accelerators (baselines)", _peers),
    "sweeps": ("example sweeps (vitsim sweep NAME)", _sweeps),
}


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the shipped presets, models, platforms, peers and "
                                    "example sweeps",
                       description="The names vitsim ships, by kind; without a kind, all.")
    p.add_argument("kind", nargs="?", choices=tuple(KINDS), metavar="KIND",
                   help=f"one of {', '.join(KINDS)} (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    found = {k: list(KINDS[k][1]()) for k in kinds}
    if args.json:
        emit_json(found)
        return 0
    if args.kind:  # one name a line: easy to pipe
        print("\n".join(found[args.kind]))
        return 0
    for kind, names in found.items():
        print(f"{kind}: {KINDS[kind][0]}")
        for name in names:
            print(f"  {name}")
    return 0
