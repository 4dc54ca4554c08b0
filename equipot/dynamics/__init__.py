"""Molecular dynamics with any ASE calculator: ``run_md`` over ASE's integrators, stability
monitors (Fu et al., TMLR 2023), trajectory analysis and end-of-run reports.

Batched replicas of the equipot model live in ``equipot.dynamics.replicas`` (imports torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from equipot._lazy import lazy_exports

_EXPORTS = {
    "distance_histogram": "equipot.dynamics.analysis",
    "distance_histogram_error": "equipot.dynamics.analysis",
    "end_to_end": "equipot.dynamics.analysis",
    "energy_drift": "equipot.dynamics.analysis",
    "radius_of_gyration": "equipot.dynamics.analysis",
    "Failure": "equipot.dynamics.results",
    "MDResult": "equipot.dynamics.results",
    "run_md": "equipot.dynamics.md",
    "BondStability": "equipot.dynamics.monitors",
    "ContactStability": "equipot.dynamics.monitors",
    "ForceSanity": "equipot.dynamics.monitors",
    "MinDistance": "equipot.dynamics.monitors",
    "TemperatureBlowup": "equipot.dynamics.monitors",
    "Uncertainty": "equipot.dynamics.monitors",
    "bonds_of": "equipot.dynamics.monitors",
    "contact_pairs": "equipot.dynamics.monitors",
    "default_monitors": "equipot.dynamics.monitors",
    "reference_bond_lengths": "equipot.dynamics.monitors",
    "study_monitors": "equipot.dynamics.monitors",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from equipot.dynamics.analysis import (
        distance_histogram,
        distance_histogram_error,
        end_to_end,
        energy_drift,
        radius_of_gyration,
    )
    from equipot.dynamics.md import Failure, MDResult, run_md
    from equipot.dynamics.monitors import (
        BondStability,
        ContactStability,
        ForceSanity,
        MinDistance,
        TemperatureBlowup,
        Uncertainty,
        bonds_of,
        contact_pairs,
        default_monitors,
        reference_bond_lengths,
        study_monitors,
    )
