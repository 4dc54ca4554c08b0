"""Reference sampling: frames appear as MD goes, a stopped run resumes, labels are right."""

import numpy as np
import pytest
from ase.calculators.morse import MorsePotential

from equipot.data.reference import PySCFCalculator, gfn2_calculator, label_frames
from equipot.data.store import FrameStore
from equipot.dynamics.sampling import sample_md
from tests.conftest import molecule


def morse():
    return MorsePotential(epsilon=1.0, r0=1.3, rho0=4.0, rcut1=3.5, rcut2=4.5)


def test_sampling_resumes_where_it_stopped(tmp_path):
    path = tmp_path / "eth.h5"
    kw = dict(temperature_K=300, stride=5, equilibration_steps=10, level_of_theory="Morse", code="ase", progress=False)
    store = sample_md(molecule("ethanol"), morse(), path, n_frames=4, **kw)
    store.close()
    first = [FrameStore(path)[k] for k in range(4)]
    store = sample_md(molecule("ethanol"), morse(), path, n_frames=7, **kw)
    assert len(store) == 7
    assert [store[k].frame_id for k in range(7)] == list(range(7))
    for k in range(4):
        assert np.array_equal(store[k].positions, first[k].positions)
    # the continuation starts from the last stored frame: no jump back to the start geometry
    step = np.abs(store[4].positions - store[3].positions).max()
    assert 0 < step < 0.5
    assert store[6].velocities is not None
    assert store.attrs["temperature_K"] == 300 and store.attrs["stride"] == 5
    # stored labels are the calculator's at the stored positions
    atoms = store[5].to_atoms()
    expected = atoms.get_forces()
    atoms.calc = morse()
    np.testing.assert_allclose(atoms.get_forces(), expected, atol=1e-5)


def test_resumed_sampling_is_the_run_that_never_stopped(tmp_path):
    """Stopped at 4 frames and extended to 7, sampling continues from its saved state (noise
    generator included): the frames equal those of one uninterrupted run. Without the state
    (a store copied alone) it continues from the last frame, with fresh noise."""
    from equipot.dynamics.sampling import state_path

    kw = dict(temperature_K=300, stride=5, equilibration_steps=10, level_of_theory="Morse", code="ase", progress=False)
    sample_md(molecule("ethanol"), morse(), tmp_path / "whole.h5", n_frames=7, **kw).close()
    sample_md(molecule("ethanol"), morse(), tmp_path / "pieces.h5", n_frames=4, **kw).close()
    sample_md(molecule("ethanol"), morse(), tmp_path / "pieces.h5", n_frames=7, **kw).close()
    with FrameStore(tmp_path / "whole.h5") as whole, FrameStore(tmp_path / "pieces.h5") as pieces:
        for k in range(7):
            np.testing.assert_array_equal(whole[k].positions, pieces[k].positions)
            np.testing.assert_array_equal(whole[k].forces, pieces[k].forces)
    sample_md(molecule("ethanol"), morse(), tmp_path / "copied.h5", n_frames=4, **kw).close()
    state_path(tmp_path / "copied.h5").unlink()
    sample_md(molecule("ethanol"), morse(), tmp_path / "copied.h5", n_frames=5, **kw).close()
    with FrameStore(tmp_path / "whole.h5") as whole, FrameStore(tmp_path / "copied.h5") as copied:
        assert len(copied) == 5 and np.array_equal(copied[3].positions, whole[3].positions)
        assert not np.allclose(copied[4].positions, whole[4].positions)
        assert 0 < np.abs(copied[4].positions - copied[3].positions).max() < 0.5


def test_labeller_labels_the_frames_of_md_on_another_calculator(tmp_path):
    """MD on one calculator, labels from another: the trajectory is the MD calculator's own,
    the stored energies and forces the labeller's at the stored positions."""
    kw = dict(temperature_K=300, stride=5, equilibration_steps=10, level_of_theory="Morse", code="ase", progress=False)
    other = MorsePotential(epsilon=0.7, r0=1.2, rho0=5.0, rcut1=3.5, rcut2=4.5)
    sample_md(molecule("ethanol"), morse(), tmp_path / "plain.h5", n_frames=3, **kw).close()
    sample_md(molecule("ethanol"), morse(), tmp_path / "other.h5", n_frames=3, labeller=other, **kw).close()
    with FrameStore(tmp_path / "plain.h5") as plain, FrameStore(tmp_path / "other.h5") as labelled:
        for k in range(3):
            np.testing.assert_array_equal(plain[k].positions, labelled[k].positions)
            atoms = labelled[k].to_atoms()
            atoms.calc = other
            assert atoms.get_potential_energy() == pytest.approx(labelled[k].energy, abs=1e-5)
            assert abs(labelled[k].energy - plain[k].energy) > 0.1


def test_sampling_report_has_the_md_schema(tmp_path):
    """``<store>.report.json``: the keys of ``equipot md``'s report.json, with the run's
    settings (steps = equilibration + frames x stride) and no failure."""
    import json

    from equipot.dynamics.md import run_md
    from equipot.dynamics.sampling import report_path

    kw = dict(temperature_K=300, stride=5, equilibration_steps=10, level_of_theory="Morse", code="ase", progress=False)
    sample_md(molecule("ethanol"), morse(), tmp_path / "s.h5", n_frames=3, **kw).close()
    report = json.loads(report_path(tmp_path / "s.h5").read_text())
    atoms = molecule("ethanol")
    atoms.calc = morse()
    run_md(atoms, temperature_K=300, steps=5, monitors=[], report_dir=tmp_path / "md", progress=False)
    md = json.loads((tmp_path / "md" / "report.json").read_text())
    assert set(report) == set(md) and set(report["result"]) == set(md["result"])
    assert set(md["settings"]) <= set(report["settings"]) | {"calculator", "resumed_at_step"}
    assert set(report["replicas"][0]) == set(md["replicas"][0])
    assert report["settings"]["steps"] == report["result"]["steps_done"] == 10 + 3 * 5
    assert report["failure"] is None and report["settings"]["frames"] == 3


def test_gfn2_label_frames(tmp_path):
    pytest.importorskip("tblite")
    path = tmp_path / "eth.h5"
    sample_md(
        molecule("ethanol"),
        morse(),
        path,
        temperature_K=300,
        n_frames=2,
        stride=3,
        equilibration_steps=0,
        level_of_theory="Morse",
        code="ase",
        progress=False,
    ).close()
    labelled = label_frames(
        path, gfn2_calculator(), tmp_path / "gfn2.h5", level_of_theory="GFN2-xTB", code="tblite", progress=False
    )
    assert len(labelled) == 2 and labelled.attrs["level_of_theory"] == "GFN2-xTB"
    atoms = labelled[1].to_atoms()
    ref = atoms.get_potential_energy()
    atoms.calc = gfn2_calculator()
    assert atoms.get_potential_energy() == pytest.approx(ref, abs=1e-4)


def test_pyscf_units_against_finite_difference():
    pytest.importorskip("pyscf")
    from ase import Atoms

    h2 = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    h2.calc = PySCFCalculator(xc="PBE", basis="sto-3g")
    f = h2.get_forces()[1, 2]
    e = []
    for dz in (1e-3, -1e-3):
        other = h2.copy()
        other.positions[1, 2] += dz
        other.calc = PySCFCalculator(xc="PBE", basis="sto-3g")
        e.append(other.get_potential_energy())
    assert f == pytest.approx(-(e[0] - e[1]) / 2e-3, abs=2e-3)  # eV/Å
    assert h2.get_potential_energy() == pytest.approx(-1.16 * 27.2114, rel=0.03)  # ~ -1.16 Ha


def test_cli_generate_split_resume(tmp_path, capsys):
    pytest.importorskip("tblite")
    import json

    from equipot.cli import main

    out = tmp_path / "eth.h5"
    argv = ["data", "generate", str(out), "--molecule", "ethanol", "--stride", "1", "--equilibration", "0"]
    assert main(argv + ["--frames", "2"]) == 0
    assert main(argv + ["--frames", "3"]) == 0  # resumes: one more frame
    store = FrameStore(out)
    assert len(store) == 3 and store.attrs["level_of_theory"] == "GFN2-xTB" and store.attrs["code"] == "tblite"
    assert "--molecule ethanol" in store.attrs["created_with"]
    store.close()
    assert main(["data", "split", str(out), "--train", "2", "--test", "1", "--seed", "1"]) == 0
    saved = json.loads((tmp_path / "eth.h5.splits.json").read_text())
    assert saved["seed"] == 1 and sorted(saved["train"] + saved["test"]) == [0, 1, 2]
    assert main(["data", "generate", str(tmp_path / "x.h5"), "--molecule", "unobtainium"]) == 2
    assert "no shipped geometry" in capsys.readouterr().err


def test_pyscf_calculator_defaults():
    pytest.importorskip("pyscf")
    from equipot.data.reference import pyscf_calculator

    calc = pyscf_calculator()
    assert (calc.xc, calc.basis, calc.density_fit) == ("PBE", "def2-SVP", False)


def test_data_layer_imports_no_higher_layer():
    """``equipot.data`` sits under dynamics, training and learning: none of its modules imports
    them (``equipot data generate`` runs MD and so lives in ``equipot.dynamics``)."""
    import ast
    from pathlib import Path

    import equipot.data

    higher = ("equipot.dynamics", "equipot.train", "equipot.learn", "equipot.calculator", "equipot.evaluator")
    found = []
    for path in Path(equipot.data.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            found += [f"{path.name}: {n}" for n in names if n.startswith(higher)]
    assert not found, found


def test_a_failing_check_stops_sampling_before_the_frame_is_labelled(tmp_path):
    """``check`` sees each frame before its label: the run stops at the first it rejects, with
    the frames before it stored and no label computed for the rejected one."""
    from equipot.errors import EquipotError

    seen = []

    def check(atoms):
        seen.append(atoms.positions.copy())
        return "too close" if len(seen) == 4 else None  # after equilibration, frames 0, 1, then 2

    labeller = morse()
    kw = dict(temperature_K=300, stride=5, equilibration_steps=10, level_of_theory="Morse", code="ase", progress=False)
    path = tmp_path / "checked.h5"
    with pytest.raises(EquipotError, match="checked.h5, frame 2: too close; stopped before labelling"):
        sample_md(molecule("ethanol"), morse(), path, n_frames=5, labeller=labeller, check=check, **kw)
    with FrameStore(path) as store:
        assert len(store) == 2
        np.testing.assert_allclose(store[1].positions, seen[2], atol=1e-6)  # stored in float32
    with sample_md(molecule("ethanol"), morse(), tmp_path / "plain.h5", n_frames=2, **kw) as unchecked:
        # a check that passes changes nothing
        np.testing.assert_array_equal(unchecked[1].positions, store_positions(path, 1))


def store_positions(path, k):
    with FrameStore(path) as store:
        return store[k].positions


def test_generation_minutes_add_up_over_pieces_and_survive_a_stopped_piece(tmp_path):
    from equipot.errors import EquipotError

    path = tmp_path / "eth.h5"
    kw = dict(temperature_K=300, stride=5, equilibration_steps=10, level_of_theory="Morse", code="ase", progress=False)
    calls = []

    def stop_at_third(atoms):  # passes equilibration and two frames, stops before the third
        calls.append(1)
        return "stopped" if len(calls) == 4 else None

    with pytest.raises(EquipotError, match="stopped"):
        sample_md(molecule("ethanol"), morse(), path, n_frames=5, check=stop_at_third, setup_minutes=2.0, **kw)
    with FrameStore(path) as store:
        assert len(store) == 2
        first = store.attrs["generation_minutes"]
    assert 2.0 < first < 2.5  # the caller's setup and this piece's sampling, though it never finished
    sample_md(molecule("ethanol"), morse(), path, n_frames=5, **kw).close()
    with FrameStore(path) as store:
        assert len(store) == 5
        assert first < store.attrs["generation_minutes"] < first + 0.5


def test_gfn2_free_atom_energies():
    """Free-atom reference energies: H2 is bound against two free H atoms by a few eV; GFN2-xTB
    has no spin polarisation, so the physical (Hund) multiplicities it uses lie within 0.2 eV of
    the singlets, as the docstring says; an element without a listed spin is an error."""
    pytest.importorskip("tblite")
    from ase import Atoms
    from ase.build import molecule
    from tblite.ase import TBLite

    from equipot.data.reference import gfn2_calculator, gfn2_free_atom_energies
    from equipot.errors import EquipotError

    e0 = gfn2_free_atom_energies(("H", "C", "O"))
    h2 = molecule("H2")
    h2.calc = gfn2_calculator()
    assert -6.0 < h2.get_potential_energy() - 2 * e0["H"] < -4.0
    for symbol in ("C", "O"):
        singlet = Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
        singlet.calc = TBLite(method="GFN2-xTB", verbosity=0, multiplicity=1)
        assert 0.0 < e0[symbol] - singlet.get_potential_energy() < 0.2
    with pytest.raises(EquipotError, match="no ground-state multiplicity for 'Na'"):
        gfn2_free_atom_energies(("Na",))
