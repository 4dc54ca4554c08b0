"""Error metrics in the units people quote: meV, meV/atom, meV/Å."""

from __future__ import annotations

import numpy as np


def error_metrics(energy_pred, energy_ref, forces_pred, forces_ref, n_atoms) -> dict[str, float]:
    """Energy MAE/RMSE per structure (meV) and per atom (meV/atom); force MAE/RMSE over
    Cartesian components (meV/Å). Inputs in eV and eV/Å; arrays (B,), (N, 3), n_atoms (B,)."""
    de = (np.asarray(energy_pred, float) - np.asarray(energy_ref, float)) * 1000
    de_atom = de / np.asarray(n_atoms, float)
    df = (np.asarray(forces_pred, float) - np.asarray(forces_ref, float)).reshape(-1) * 1000
    return {
        "energy_mae": float(np.abs(de).mean()),
        "energy_rmse": float(np.sqrt((de**2).mean())),
        "energy_per_atom_mae": float(np.abs(de_atom).mean()),
        "energy_per_atom_rmse": float(np.sqrt((de_atom**2).mean())),
        "force_mae": float(np.abs(df).mean()),
        "force_rmse": float(np.sqrt((df**2).mean())),
    }
