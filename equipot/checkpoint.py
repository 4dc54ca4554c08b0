"""Versioned checkpoints: config + weights + species + reference energies + metadata.

A checkpoint is a plain dict saved with ``torch.save`` and loaded with
``torch.load(weights_only=True)``, so loading never runs pickled code. It holds everything
needed to use the model alone: unlike the official Equiformer code, the energy scale and
reference energies are inside it, not in a separate file.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from equipot.model import Equiformer, EquiformerConfig

FORMAT = "equipot-checkpoint"
FORMAT_VERSION = 1
_REQUIRED = ("format", "format_version", "config", "state_dict")


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to a temporary file in the same folder, then rename: a kill never leaves
    a half-written file under ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def checkpoint_dict(model: Equiformer, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint contents for ``model`` (weights copied to CPU)."""
    species = model.species
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "species": species,
        "reference_energies": dict(zip(species, model.reference_energies.tolist())),
        "scale": float(model.scale),
        "avg_num_neighbors": float(model.config.avg_num_neighbors),
        "metadata": {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "torch_version": str(torch.__version__),
            **(metadata or {}),
        },
    }


def save_checkpoint(
    model: Equiformer, path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> None:
    """Write ``model`` to ``path`` atomically. ``metadata`` must hold plain Python values
    (str, numbers, bools, lists, dicts) so the file loads with ``weights_only=True``."""
    atomic_save(checkpoint_dict(model, metadata), path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate the checkpoint dict; ValueError for truncated or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle of foreign classes, plain garbage...
        raise ValueError(f"{path} is not a readable equipot checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not an equipot checkpoint (no '{FORMAT}' format tag)")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: checkpoint is missing {missing}")
    if data["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format version {data['format_version']}; this equipot "
            f"reads up to {FORMAT_VERSION}: upgrade equipot"
        )
    return data


def model_from_checkpoint(data: dict[str, Any], source: str = "checkpoint") -> Equiformer:
    """Build the model described by a checkpoint dict and load its weights."""
    try:
        model = Equiformer(EquiformerConfig.from_dict(dict(data["config"])))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: invalid model config: {err}") from err
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{source}: weights do not match the config: {err}") from err
    model.metadata = dict(data.get("metadata", {}))
    return model


def shipped_models() -> dict[str, Path]:
    """Names of the models shipped inside the package -> checkpoint paths."""
    folder = Path(str(resources.files("equipot") / "models"))
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.pt"))}


def load_model(
    spec: str | os.PathLike | Equiformer,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float64",
) -> Equiformer:
    """A model from a checkpoint path, a shipped model name, or an ``Equiformer`` object,
    moved to ``device``/``dtype`` and put in eval mode."""
    if isinstance(spec, Equiformer):
        model = spec
    else:
        path = Path(spec)
        if not path.exists():
            shipped = shipped_models()
            if str(spec) not in shipped:
                raise FileNotFoundError(
                    f"no checkpoint file {spec!s} and no shipped model of that name; "
                    f"shipped models: {sorted(shipped) or 'none'}"
                )
            path = shipped[str(spec)]
        model = model_from_checkpoint(read_checkpoint(path), source=str(path))
    return model.to(device=torch.device(device), dtype=parse_dtype(dtype)).eval()


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        return dtype
    table = {"float32": torch.float32, "float64": torch.float64, "float": torch.float32, "double": torch.float64}
    if dtype not in table:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return table[dtype]
