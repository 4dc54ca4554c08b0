"""Molecular dynamics with any ASE calculator: ``run_md`` over ASE's integrators, stability
monitors (Fu et al., TMLR 2023), trajectory analysis and end-of-run reports.

Batched replicas of the equipot model live in ``equipot.dynamics.replicas`` (imports torch).
"""

from __future__ import annotations

from equipot._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "equipot.dynamics.analysis": [
            "distance_histogram",
            "distance_histogram_error",
            "end_to_end",
            "energy_drift",
            "radius_of_gyration",
        ],
        "equipot.dynamics.results": ["Failure", "MDResult"],
        "equipot.dynamics.md": ["run_md"],
        "equipot.dynamics.options": ["Integrator", "Outputs", "Restarts"],
        "equipot.dynamics.monitors": [
            "BondStability",
            "ContactStability",
            "ForceSanity",
            "MinDistance",
            "TemperatureBlowup",
            "Uncertainty",
            "bonds_of",
            "contact_pairs",
            "default_monitors",
            "reference_bond_lengths",
            "study_monitors",
        ],
    },
)
