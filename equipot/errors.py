"""What a user can get wrong, as one exception family.

``EquipotError`` covers everything that is the input's fault rather than the code's: a config
key or value, an input file that is missing, unreadable or of another format, a model that
cannot evaluate a structure, damaged restart state, an optional package that is not
installed. It subclasses ``ValueError``, so library callers that catch ``ValueError`` keep
working. The command line prints such an error as one line and exits with status 2; any other
exception is a bug and keeps its traceback (``equipot.cli``).

The subclasses also derive from the built-in exception a caller would expect
(``FileNotFoundError``, ``FileExistsError``, ``ImportError``), so ``except FileNotFoundError``
still catches a missing input.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class EquipotError(ValueError):
    """A bad input: config, file, model, structure or restart state."""


class StructureError(EquipotError):
    """A structure no model can evaluate: non-finite positions, atoms on top of each other, a
    degenerate periodic cell. Before MD it is the input's fault; during MD it is a blow-up."""


class MissingFileError(EquipotError, FileNotFoundError):
    """An input path that does not exist."""


class ExistingFileError(EquipotError, FileExistsError):
    """An output path that exists and would be overwritten."""


class MissingDependencyError(EquipotError, ImportError):
    """An optional package that the requested work needs is not installed."""


def brief(err: BaseException, limit: int = 120) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters: a library's own
    exception quoted inside a one-line ``EquipotError``."""
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    text = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or a ``MissingDependencyError`` that names the extra to install.

    Args:
        module: the importable name, e.g. ``"tblite.ase"``.
        extra: equipot's optional-dependency group that provides it, e.g. ``"xtb"``.
        purpose: what needs it, for the message ("GFN2-xTB labels").
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{purpose} need the {module.split('.')[0]} package, which is not installed: pip install 'equipot[{extra}]'"
        ) from err


def existing_file(path, what: str = "file"):
    """``path`` as a ``pathlib.Path`` when it is an existing file, else a ``MissingFileError``."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no {what} at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    return path
