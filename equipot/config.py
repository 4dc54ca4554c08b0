"""One base for every settings object read from YAML: the model's, training's and active learning's.

A config is a dataclass whose fields are declared with ``setting(default, "one-line help")``.
``from_dict`` and ``from_yaml`` check it whole before any work starts:

- an unknown key is an error that names the closest known one ("did you mean ...");
- a value is checked against the field's annotation (``float``, ``int | None``, ``list[str]``,
  ``str | list[str]``, ...). YAML reads ``5e-3`` (no decimal point) as a string, so numeric
  strings become numbers; any other mismatch is an error naming the key and the type wanted;
- ranges and allowed values are each class's ``__post_init__`` (``check_range``, ``check_choice``).

Every error is an ``EquipotError``. ``describe`` prints the fields with their types, defaults and
help, for ``equipot train --help-config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, ClassVar

from equipot.errors import EquipotError, MissingFileError

_MISSING = dataclasses.MISSING


def setting(default: Any = _MISSING, help: str = "", *, factory: Any = _MISSING) -> Any:
    """A dataclass field with a one-line description (``help``); ``factory`` for mutable defaults."""
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; a missing file, a syntax error or a non-mapping is an
    ``EquipotError`` of one line that names the file (and the line of a syntax error)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no config file {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise EquipotError(f"{path}: YAML syntax error{where}: {problem}") from None
    except UnicodeDecodeError:
        raise EquipotError(f"{path} is not a text file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EquipotError(f"{path}: expected a mapping of settings (key: value lines), got {type(data).__name__}")
    return data


def unknown_keys_error(unknown: set[str], known: set[str], what: str) -> EquipotError:
    """The error for keys a config does not have, with the closest known key for each."""
    hints = []
    for key in sorted(map(str, unknown)):
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return EquipotError(f"unknown {what} key{'s' if len(hints) > 1 else ''} {', '.join(hints)}")


class Config:
    """Base of the settings dataclasses. Subclasses set ``what`` (the word used in errors)."""

    what: ClassVar[str] = "config"

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def known(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data``, a mapping with only keys the config has (else the did-you-mean error)."""
        if not isinstance(data, dict):
            raise EquipotError(f"{cls.what}: expected a mapping of settings, got {type(data).__name__}")
        unknown = set(data) - cls.field_names()
        if unknown:
            raise unknown_keys_error(unknown, cls.field_names(), cls.what)
        return data

    @classmethod
    def checked(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with unknown keys rejected and each value checked against its field's type:
        a section checked before the config that takes it is built."""
        hints = typing.get_type_hints(cls)
        return {key: coerce(value, hints[key], f"{cls.what} {key!r}") for key, value in cls.known(data).items()}

    def check_types(self) -> None:
        """Every field's value checked against its annotation (numeric strings converted): the
        first thing each subclass's ``__post_init__`` does, so direct construction is checked
        as loading is."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, coerce(getattr(self, f.name), hints[f.name], f"{self.what} {f.name!r}"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        missing = [
            n
            for n, f in fields.items()
            if f.default is _MISSING and f.default_factory is _MISSING and n not in (data or {})
        ]
        if missing:
            raise EquipotError(f"{cls.what} needs {', '.join(repr(m) for m in missing)}")
        return cls(**cls.known(data))  # __post_init__ checks the values (check_types)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None):
        """The settings in a YAML file, with ``overrides`` (key -> value) on top."""
        return cls.from_dict({**read_yaml(path), **(overrides or {})})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> str:
        """Every field: name, type, default and one-line help (``--help-config``)."""
        hints = typing.get_type_hints(cls)
        lines = []
        for f in dataclasses.fields(cls):
            if f.default is not _MISSING:
                default = repr(f.default)
            elif f.default_factory is not _MISSING:
                default = repr(f.default_factory())
            else:
                default = "required"
            lines.append(f"{f.name}: {type_name(hints[f.name])} = {default}")
            lines.append(f"    {f.metadata.get('help', '')}")
        return "\n".join(lines)


def check_range(
    what: str, value: Any, low: float | None = None, high: float | None = None, *, low_open: bool = False
) -> None:
    """``EquipotError`` unless ``low <= value <= high`` (``low < value`` with ``low_open``)."""
    if value is None:
        return
    below = low is not None and (value <= low if low_open else value < low)
    if below or (high is not None and value > high):
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"<= {high}"
        raise EquipotError(f"{what} must be {' and '.join(x for x in (lo, hi) if x)}, got {value!r}")


def check_choice(what: str, value: Any, choices) -> None:
    if value not in choices:
        raise EquipotError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def type_name(hint: Any) -> str:
    """``float | None`` for the annotation, as a user reads it."""
    if hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(hint))
        return f"{origin.__name__}[{args}]" if args else origin.__name__
    return getattr(hint, "__name__", str(hint))


_WORDS = {
    float: "a number",
    int: "an integer",
    bool: "true or false",
    str: "a string",
    type(None): "null",
    dict: "a mapping",
}


def wanted(hint: Any) -> str:
    """What an annotation asks for, in words: ``float | None`` -> "a number or null"."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(wanted(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return f"a list of {wanted(item).removeprefix('a ').removeprefix('an ')}s" if item is not Any else "a list"
    return _WORDS.get(origin or hint, type_name(hint))


def coerce(value: Any, hint: Any, what: str) -> Any:
    """``value`` as the annotation ``hint`` wants it, or an ``EquipotError`` naming ``what``."""
    ok, converted = _try(value, hint)
    if not ok:
        raise EquipotError(f"{what} must be {wanted(hint)}, got {value!r}")
    return converted


def _try(value: Any, hint: Any) -> tuple[bool, Any]:
    if hint is Any:
        return True, value
    if hint is type(None):
        return value is None, value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if isinstance(value, str) and (float in args or int in args):
            ok, number = _number(value, float if float in args else int)
            if ok:  # "5e-2" for ``float | str`` is the number YAML did not parse
                return True, number
        # exact types first, so "auto" stays a string for ``float | str`` and 3 an int for ``int | float``
        for arg in args:
            if _exact(value, arg):
                return True, value
        for arg in args:
            ok, converted = _try(value, arg)
            if ok:
                return True, converted
        return False, value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, value
        (item,) = typing.get_args(hint)[:1] or (Any,)
        out = [_try(v, item) for v in value]
        return all(ok for ok, _ in out), [v for _, v in out]
    if origin is dict or hint is dict:
        return isinstance(value, dict), value
    if hint is bool:
        return isinstance(value, bool), value
    if hint in (int, float):
        return _number(value, hint)
    if hint is str:
        return isinstance(value, str), value
    return True, value


def _exact(value: Any, hint: Any) -> bool:
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float, str):
        return type(value) is hint
    return False


def _number(value: Any, kind: type) -> tuple[bool, Any]:
    """Numbers and numeric strings ("5e-3") as ``kind``; booleans are not numbers."""
    if isinstance(value, bool):
        return False, value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return False, value
    if not isinstance(value, (int, float)):
        return False, value
    if kind is int:
        if float(value).is_integer():
            return True, int(value)
        return False, value
    return True, float(value)
