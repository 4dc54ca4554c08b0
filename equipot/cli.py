"""Command-line entry point: ``equipot train | eval | md | learn | data | lammps | ipi-client``.

Each sub-command lives next to the code it drives and registers itself here through a
``register(subparsers)`` function, so this file stays a dispatcher and importing it is cheap
(heavy modules are imported only when their command runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command name -> module that defines ``register(subparsers)``
_COMMANDS = {
    "data": "equipot.data.cli",
    "train": "equipot.train.cli",
    "eval": "equipot.train.cli_eval",
    "md": "equipot.dynamics.cli",
    "learn": "equipot.learn.cli",
    "lammps": "equipot.lammps.cli",
    "ipi-client": "equipot.ipi.client",
}
# actions that join another command's: command -> modules whose ``register`` takes the
# actions returned by that command's ``register`` (``data generate`` runs MD: dynamics layer)
_EXTENSIONS = {"data": ["equipot.dynamics.generate_cli"]}


def parse_overrides(items: list[str]) -> dict:
    """``--set KEY=VALUE ...`` as a dict, each value parsed as YAML (``5`` an int, ``auto`` a
    string); a config's ``from_yaml(path, overrides)`` then checks the keys."""
    import yaml

    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set wants KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def build_parser() -> argparse.ArgumentParser:
    from equipot import __version__

    parser = argparse.ArgumentParser(prog="equipot", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"equipot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _COMMANDS.items():
        actions = importlib.import_module(module).register(sub)
        for extension in _EXTENSIONS.get(name, []):
            importlib.import_module(extension).register(actions)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"equipot {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
