"""Restart state of an MD run: everything the next step depends on, written atomically.

A run is exactly resumable when the state holds, at a step boundary, the positions and momenta,
the integrator's own variables (a Nose-Hoover chain's thermostat coordinates, the energy a
Bussi thermostat has exchanged), the random generator that draws its noise, the step count, the
monitors' state (bond lists and reference lengths taken from the first frame, say) and where the
log and trajectory files ended. Forces are not stored: the calculator recomputes them at the
restored positions, which for a deterministic model gives the same numbers.

The file is one ``.npz`` (no pickles): arrays under their names and the scalars as one JSON
document under ``"meta"``. It is written to a temporary file in the same directory and renamed
over the old one, so a run killed while writing leaves the previous state intact.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from equipot.errors import EquipotError, brief
from equipot.files import atomic_open

RESTART_NAME = "restart.npz"


@dataclass
class RestartState:
    """One saved state. ``arrays`` maps names to arrays (positions, momenta, ...); ``meta`` holds
    JSON scalars (step, generator state, file offsets, ...); ``monitors`` one state dict per
    monitor, in the order the run was given them."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    monitors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def save_state(path: str | Path, state: RestartState) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + rename); returns the path."""
    path = Path(path)
    arrays = dict(state.arrays)
    monitor_meta = []
    for i, monitor_state in enumerate(state.monitors):
        scalars = {}
        for key, value in monitor_state.items():
            if isinstance(value, np.ndarray):
                arrays[f"monitor{i}.{key}"] = value
            else:
                scalars[key] = value
        monitor_meta.append(scalars)
    meta = {**state.meta, "monitors": monitor_meta}
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_open(path) as fh:
        np.savez(fh, **arrays)
    return path


def load_state(path: str | Path) -> RestartState:
    """Read a state written by ``save_state``; a missing or foreign file is a ``ValueError``."""
    path = Path(path)
    if path.is_dir():
        path = path / RESTART_NAME
    if not path.is_file():
        raise EquipotError(f"no restart state at {path}: was the run started with restarts on?")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise EquipotError(f"{path} is not an equipot restart file, or it is damaged ({brief(err)})") from err
    monitors = [dict(scalars) for scalars in meta.pop("monitors", [])]
    for name in [k for k in arrays if k.startswith("monitor")]:
        index, key = name[len("monitor") :].split(".", 1)
        monitors[int(index)][key] = arrays.pop(name)
    return RestartState(arrays=arrays, meta=meta, monitors=monitors)


# --------------------------------------------------------------------------- ASE integrators


def integrator_state(dyn) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The variables of an ASE integrator beyond the atoms' positions and momenta, as
    (arrays, scalars). Langevin and velocity Verlet keep none (Langevin's noise comes from the
    generator, saved separately); Bussi keeps the energy it has exchanged; a Nose-Hoover chain
    its thermostat coordinates and momenta and its own copies of positions and momenta (which
    the atoms' constraints may have adjusted since)."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {"nsteps": int(dyn.nsteps)}
    if hasattr(dyn, "transferred_energy"):
        scalars["transferred_energy"] = float(dyn.transferred_energy)
    thermostat = getattr(dyn, "_thermostat", None)
    if thermostat is not None:
        arrays.update(
            nhc_eta=np.array(thermostat._eta),
            nhc_p_eta=np.array(thermostat._p_eta),
            nhc_q=np.array(dyn._q),
            nhc_p=np.array(dyn._p),
        )
    return arrays, scalars


def set_integrator_state(dyn, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
    """Put back what ``integrator_state`` saved into a freshly made integrator of the same kind."""
    dyn.nsteps = int(scalars.get("nsteps", 0))
    if "transferred_energy" in scalars:
        dyn.transferred_energy = float(scalars["transferred_energy"])
    thermostat = getattr(dyn, "_thermostat", None)
    if thermostat is not None:
        if "nhc_eta" not in arrays:
            raise EquipotError(
                "the restart state has no Nose-Hoover thermostat variables: "
                "was it written by a run with another ensemble?"
            )
        thermostat._eta = np.array(arrays["nhc_eta"])
        thermostat._p_eta = np.array(arrays["nhc_p_eta"])
        dyn._q = np.array(arrays["nhc_q"])
        dyn._p = np.array(arrays["nhc_p"])


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """A numpy generator's bit-generator state (JSON-serialisable: Python ints)."""
    return rng.bit_generator.state


def set_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore ``rng`` in place, so integrators holding it draw the same numbers as before."""
    if state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise EquipotError(
            f"restart state holds a {state.get('bit_generator')} generator, "
            f"this run a {type(rng.bit_generator).__name__}"
        )
    rng.bit_generator.state = state


def monitor_states(monitors: Sequence) -> list[dict[str, Any]]:
    """``state_dict()`` of each monitor (an empty dict for monitors without one)."""
    return [m.state_dict() if hasattr(m, "state_dict") else {} for m in monitors]


def set_monitor_states(monitors: Sequence, states: list[dict[str, Any]]) -> None:
    """Give each monitor back its state; the list must match the run's monitors one to one."""
    if len(states) != len(monitors):
        raise EquipotError(
            f"the restart state has {len(states)} monitors, this run {len(monitors)}: "
            "resume with the monitors the run started with"
        )
    for monitor, state in zip(monitors, states):
        if hasattr(monitor, "load_state_dict"):
            monitor.load_state_dict(state)
