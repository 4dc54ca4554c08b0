"""Polymer oligomers: every family builds a sane, H-capped 3D chain of the right size."""

import numpy as np
import pytest
from ase.data import covalent_radii

pytest.importorskip("rdkit")

from equipot.data.polymers import (  # noqa: E402
    POLYMER_FAMILIES,
    atoms_per_repeat,
    build_oligomer,
    min_distance,
    n_repeat_for_atoms,
    oligomer_mol,
    repeat_smiles,
)


@pytest.mark.parametrize("family", sorted(POLYMER_FAMILIES))
def test_every_family_builds(family):
    per_unit, caps = atoms_per_repeat(family)
    assert caps == 2  # one H on each end
    atoms = build_oligomer(family, 3, seed=1)
    assert len(atoms) == caps + 3 * per_unit
    assert np.isfinite(atoms.positions).all()
    assert 0.9 < min_distance(atoms) < 1.2  # shortest are X-H bonds; nothing overlapping
    # every hydrogen is bonded (within 1.2 x the covalent-radius sum: C-H 1.28, S-H 1.61 Å) to
    # exactly one atom: caps are real H atoms
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
    radii = covalent_radii[atoms.numbers]
    bonded = d < 1.2 * (radii[:, None] + radii[None])
    for i in np.flatnonzero(atoms.numbers == 1):
        assert bonded[i].sum() - 1 == 1


def test_chain_composition_and_target_size():
    atoms = build_oligomer("polyethylene", 5, seed=0)
    assert atoms.get_chemical_formula() == "C10H22"  # decane
    assert oligomer_mol("pvc", 4).GetNumAtoms() == 2 + 4 * 6
    n = n_repeat_for_atoms("polystyrene", 100)
    per_unit, caps = atoms_per_repeat("polystyrene")
    assert abs(caps + n * per_unit - 100) <= per_unit / 2
    # same seed, same chain; a different seed gives a different conformer
    a, b, c = (build_oligomer("pp", 4, seed=s) for s in (3, 3, 4))
    assert np.allclose(a.positions, b.positions) and not np.allclose(a.positions, c.positions)


def test_custom_smiles_and_errors():
    assert repeat_smiles("[*]CC(F)(F)[*]") == "[*]CC(F)(F)[*]"
    assert build_oligomer("[*]CC(F)(F)[*]", 2).get_chemical_formula() == "C4H6F4"
    with pytest.raises(ValueError, match="unknown polymer"):
        repeat_smiles("polyunobtainium")
    with pytest.raises(ValueError, match="n_repeat"):
        oligomer_mol("pe", 0)


def test_class_folds_hold_out_every_class_once_and_no_element():
    """Each chemistry class is held out by exactly one fold, and every element of a fold's
    held-out classes is also in its training classes: a fold tests unseen chemistry, never an
    element the model has no embedding for."""
    from equipot.data.polymers import CLASS_FOLDS, FAMILY_TABLE, POLYMER_CLASSES, family_of_file

    held = [cls for fold in CLASS_FOLDS for cls in fold]
    assert sorted(held) == sorted(set(POLYMER_CLASSES.values())) and len(held) == len(set(held))
    assert len(CLASS_FOLDS) >= 5 and len(FAMILY_TABLE) >= 30
    elements: dict[str, set] = {}
    for short, _, cls, _ in FAMILY_TABLE:
        elements.setdefault(cls, set()).update(build_oligomer(short, 1, relax=False).get_chemical_symbols())
    assert set().union(*elements.values()) >= {"H", "C", "N", "O", "F", "S", "Cl"}
    for fold in CLASS_FOLDS:
        seen = set().union(*(e for cls, e in elements.items() if cls not in fold))
        assert set().union(*(elements[cls] for cls in fold)) <= seen, fold
    assert family_of_file("datasets/polymers_gfn2/pvdf_32_450K.h5") == ("pvdf", 32, 450.0)
    with pytest.raises(ValueError, match="not a polymer dataset file"):
        family_of_file("datasets/polymers_gfn2/pe_32.h5")
