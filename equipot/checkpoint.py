"""Versioned checkpoints: config + weights + species + reference energies + metadata.

A checkpoint is a plain dict saved with ``torch.save`` and loaded with
``torch.load(weights_only=True)``, so loading never runs pickled code. It holds everything
needed to use the model alone: unlike the official Equiformer code, the energy scale and
reference energies are inside it, not in a separate file.

Format 2 stores the weights of a ``Potential`` (the network's under ``network.``); format 1,
written before the potential and the network were separate modules, stored them flat and
still loads. ``species``, ``reference_energies`` and ``scale`` repeat what the weights hold,
for a reader without equipot; loading checks that they agree.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from equipot.errors import EquipotError, MissingFileError, brief
from equipot.files import atomic_open
from equipot.model import Equiformer, EquiformerConfig
from equipot.potential import Potential, as_potential

FORMAT = "equipot-checkpoint"
FORMAT_VERSION = 2
# weights that belong to the potential, not the network, in a format-1 (flat) state dict
_POTENTIAL_KEYS = ("z_to_index", "reference_energies", "scale")
_REQUIRED = ("format", "format_version", "config", "state_dict")


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through ``atomic_open``: a kill never leaves a half-written file under ``path``."""
    with atomic_open(path) as fh:
        torch.save(obj, fh)


def checkpoint_dict(model: Potential | Equiformer, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint contents for ``model`` (weights copied to CPU); a bare network is saved
    as a potential with E0 = 0 and scale 1."""
    potential = as_potential(model)
    species = potential.species
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": potential.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in potential.state_dict().items()},
        "species": species,
        "reference_energies": dict(zip(species, potential.reference_energies.tolist())),
        "scale": float(potential.scale),
        "metadata": {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "torch_version": str(torch.__version__),
            **(metadata or {}),
        },
    }


def save_checkpoint(
    model: Potential | Equiformer, path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> None:
    """Write ``model`` to ``path`` atomically. ``metadata`` must hold plain Python values
    (str, numbers, bools, lists, dicts) so the file loads with ``weights_only=True``."""
    atomic_save(checkpoint_dict(model, metadata), path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate the checkpoint dict; ValueError for truncated or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle of foreign classes, plain garbage...
        raise EquipotError(f"{path} is not a readable equipot checkpoint ({brief(err)})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EquipotError(f"{path} is not an equipot checkpoint (no '{FORMAT}' format tag)")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise EquipotError(f"{path}: checkpoint is missing {missing}")
    if data["format_version"] > FORMAT_VERSION:
        raise EquipotError(
            f"{path} has checkpoint format version {data['format_version']}; this equipot "
            f"reads up to {FORMAT_VERSION}: upgrade equipot"
        )
    return data


def _state_dict_v2(data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The potential's state dict; format 1 kept the network's weights at the top level."""
    state = data["state_dict"]
    if data["format_version"] >= 2:
        return state
    return {k if k in _POTENTIAL_KEYS or k.startswith("repulsion.") else f"network.{k}": v for k, v in state.items()}


def model_from_checkpoint(data: dict[str, Any], source: str = "checkpoint") -> Potential:
    """Build the potential described by a checkpoint dict and load its weights."""
    try:
        model = Potential(EquiformerConfig.from_dict(dict(data["config"])))
    except (TypeError, ValueError) as err:
        raise EquipotError(f"{source}: invalid model config: {err}") from err
    try:
        model.load_state_dict(_state_dict_v2(data))
    except RuntimeError as err:
        raise EquipotError(f"{source}: weights do not match the config: {err}") from err
    _check_summary(model, data, source)
    model.metadata = dict(data.get("metadata", {}))
    return model


def _check_summary(model: Potential, data: dict[str, Any], source: str) -> None:
    """The species, E0 and scale written beside the weights must be the weights' own."""
    if "species" in data and list(data["species"]) != model.species:
        raise EquipotError(f"{source}: species {data['species']} disagree with the config's {model.species}")
    e0 = data.get("reference_energies")
    if e0 is not None:
        held = dict(zip(model.species, model.reference_energies.tolist()))
        if set(e0) != set(held) or any(abs(e0[s] - held[s]) > 1e-6 * max(1.0, abs(held[s])) for s in held):
            raise EquipotError(f"{source}: reference energies {e0} disagree with the weights' {held}")
    if "scale" in data and abs(float(data["scale"]) - float(model.scale)) > 1e-6 * max(1.0, abs(float(model.scale))):
        raise EquipotError(f"{source}: scale {data['scale']} disagrees with the weights' {float(model.scale)}")


def shipped_models() -> dict[str, Path]:
    """Names of the models shipped inside the package -> checkpoint paths."""
    folder = Path(str(resources.files("equipot") / "models"))
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.pt"))}


def _suggest(spec: str | os.PathLike) -> str:
    """The shipped names close to ``spec`` (a typo), else all of them, comma-separated."""
    import difflib

    names = sorted(shipped_models())
    close = difflib.get_close_matches(Path(spec).stem, names, n=3, cutoff=0.75)
    if close:
        return f"did you mean {' or '.join(close)}?"
    return f"shipped models: {', '.join(names) or 'none'}"


def checkpoint_path(spec: str | os.PathLike) -> Path | None:
    """The checkpoint file ``spec`` names: a path, else a shipped model's; None if neither."""
    path = Path(spec)
    return path if path.exists() else shipped_models().get(str(spec))


def load_model(
    spec: str | os.PathLike | Potential | Equiformer,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float64",
) -> Potential:
    """A potential from a checkpoint path, a shipped model name, a ``Potential``, or a bare
    ``Equiformer`` network (wrapped with E0 = 0 and scale 1), moved to ``device``/``dtype``
    and put in eval mode."""
    if isinstance(spec, (Potential, Equiformer)):
        model = as_potential(spec)
    else:
        path = checkpoint_path(spec)
        if path is None:
            raise MissingFileError(f"no checkpoint file {spec!s} and no shipped model of that name; {_suggest(spec)}")
        model = model_from_checkpoint(read_checkpoint(path), source=str(path))
    return model.to(device=torch.device(device), dtype=parse_dtype(dtype)).eval()


def lineage_metadata(model: Potential, depth: int = 8) -> list[dict]:
    """The metadata of ``model`` and of the models it was fine-tuned from (``init_from``,
    followed while the checkpoint or shipped model can be found), nearest first."""
    out = [dict(model.metadata or {})]
    while len(out) < depth:
        parent = out[-1].get("init_from")
        path = checkpoint_path(parent) if parent else None
        if path is None:
            break
        out.append(dict(read_checkpoint(path).get("metadata", {})))
    return out


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise EquipotError(f"dtype must be float32 or float64, got {dtype}")
        return dtype
    table = {"float32": torch.float32, "float64": torch.float64, "float": torch.float32, "double": torch.float64}
    if dtype not in table:
        raise EquipotError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return table[dtype]
