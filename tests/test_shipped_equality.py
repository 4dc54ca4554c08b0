"""The shipped models compute what they computed when shipped_reference.npz was written.

Guards refactors of the model code: energies, per-atom energies, forces (and stress of a
periodic polyethylene box) of every shipped checkpoint, float64, to 1e-12 eV (eV/Å).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from equipot import EquiformerCalculator

REFERENCE = np.load(Path(__file__).parent / "data" / "shipped_reference.npz")
MODELS = sorted({key.split(":")[0] for key in REFERENCE.files if ":" in key})


def structure(name: str) -> Atoms:
    return Atoms(
        numbers=REFERENCE[f"{name}/numbers"],
        positions=REFERENCE[f"{name}/positions"],
        cell=REFERENCE[f"{name}/cell"],
        pbc=REFERENCE[f"{name}/pbc"],
    )


@pytest.mark.parametrize("model", MODELS)
def test_shipped_model_outputs_unchanged(model):
    calc = EquiformerCalculator(model, dtype="float64")
    names = sorted({key.split(":")[1].split("/")[0] for key in REFERENCE.files if key.startswith(f"{model}:")})
    assert names, f"no reference structures for {model}"
    for name in names:
        atoms = structure(name)
        atoms.calc = calc
        key = f"{model}:{name}"
        assert abs(atoms.get_potential_energy() - float(REFERENCE[f"{key}/energy"])) < 1e-12 * max(
            1.0, abs(float(REFERENCE[f"{key}/energy"])) / 1e3
        ), key
        np.testing.assert_allclose(atoms.get_potential_energies(), REFERENCE[f"{key}/energies"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(atoms.get_forces(), REFERENCE[f"{key}/forces"], rtol=0, atol=1e-12)
        if f"{key}/stress" in REFERENCE.files:
            np.testing.assert_allclose(atoms.get_stress(), REFERENCE[f"{key}/stress"], rtol=0, atol=1e-12)
