"""Molecular dynamics with any ASE calculator: ``run_md`` over ASE's integrators, stability
monitors (Fu et al., TMLR 2023), trajectory analysis and end-of-run reports.

Batched replicas of the equipot model live in ``equipot.dynamics.replicas`` (imports torch).
"""

from equipot.dynamics.analysis import (distance_histogram, distance_histogram_error, end_to_end, energy_drift,
                                       radius_of_gyration)
from equipot.dynamics.md import Failure, MDResult, run_md
from equipot.dynamics.monitors import (BondStability, ContactStability, ForceSanity, MinDistance, TemperatureBlowup,
                                       Uncertainty, bonds_of, contact_pairs, default_monitors,
                                       reference_bond_lengths, study_monitors)

__all__ = [
    "run_md", "MDResult", "Failure",
    "BondStability", "ContactStability", "TemperatureBlowup", "ForceSanity", "MinDistance", "Uncertainty",
    "default_monitors",
    "study_monitors",
    "bonds_of", "contact_pairs", "reference_bond_lengths",
    "energy_drift", "distance_histogram", "distance_histogram_error", "radius_of_gyration", "end_to_end",
]
