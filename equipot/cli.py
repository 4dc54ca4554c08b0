"""Command-line entry point: ``equipot train | eval | md | learn | data | compile | lammps | ipi-client``.

Each sub-command lives next to the code it drives and registers itself here through a
``register(subparsers)`` function, so this file stays a dispatcher and importing it is cheap
(heavy modules are imported only when their command runs).

This is the one error boundary. A user error (``equipot.errors.EquipotError``: a config, an
input file, a model, restart state, a missing optional package) prints
``equipot: error: <one line>`` and exits with status 2, as argparse does for a bad option.
Anything else is a bug: its traceback is shown and the status is 1. ``--debug`` (or
``EQUIPOT_DEBUG=1``) shows the traceback of user errors too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from equipot.errors import EquipotError

# sub-command name -> module that defines ``register(subparsers)``
_COMMANDS = {
    "data": "equipot.data.cli",
    "train": "equipot.train.cli",
    "eval": "equipot.train.cli_eval",
    "md": "equipot.dynamics.cli",
    "learn": "equipot.learn.cli",
    "compile": "equipot.compiled",
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
            raise EquipotError(f"--set wants KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def build_parser() -> argparse.ArgumentParser:
    from equipot import __version__

    parser = argparse.ArgumentParser(prog="equipot", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"equipot {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of user errors too (also EQUIPOT_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _COMMANDS.items():
        actions = importlib.import_module(module).register(sub)
        for extension in _EXTENSIONS.get(name, []):
            importlib.import_module(extension).register(actions)
    return parser


def one_line(err: BaseException) -> str:
    """An exception's message on one line (a user sees one line; ``--debug`` shows the rest)."""
    text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
    return text or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get("EQUIPOT_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except EquipotError as err:
        if debug:
            raise
        print(f"equipot: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("equipot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
