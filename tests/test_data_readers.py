"""Readers: small files in each format round-trip exactly through the store, units converted."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from equipot.cli import main
from equipot.data.readers import convert, read_extxyz, read_md17_npz, read_rmd17_npz, read_structure
from equipot.data.store import FrameStore

KCAL = units.kcal / units.mol


def test_md17_and_rmd17_units(tmp_path):
    rng = np.random.default_rng(0)
    R = rng.normal(size=(3, 4, 3))
    E = rng.normal(size=(3, 1)) * 1000
    F = rng.normal(size=(3, 4, 3)) * 30
    z = np.array([6, 1, 1, 8])
    np.savez(tmp_path / "md17.npz", R=R, E=E, F=F, z=z)
    np.savez(tmp_path / "rmd17.npz", coords=R, energies=E[:, 0], forces=F, nuclear_charges=z)
    for frames in (read_md17_npz(tmp_path / "md17.npz"), read_rmd17_npz(tmp_path / "rmd17.npz")):
        assert len(frames) == 3
        assert frames[1].energy == pytest.approx(E[1, 0] * 0.0433641, rel=1e-5)  # 1 kcal/mol = 0.0433641 eV
        np.testing.assert_allclose(frames[2].forces, F[2] * KCAL)
        np.testing.assert_array_equal(frames[0].numbers, z)
    store = convert(tmp_path / "rmd17.npz", tmp_path / "out.h5")
    assert store.attrs["level_of_theory"] == "PBE/def2-SVP (rMD17)"
    assert store[2].energy == pytest.approx(E[2, 0] * KCAL, abs=1e-9)
    np.testing.assert_allclose(store[0].positions, R[0], atol=1e-6)  # float32 positions


def test_extxyz_custom_keys_and_cli(tmp_path, capsys):
    rng = np.random.default_rng(1)
    images = []
    for _ in range(4):
        atoms = Atoms("CH4", positions=rng.normal(size=(5, 3)).astype(np.float32).astype(float))
        atoms.info["dft_energy"] = float(rng.normal())
        atoms.arrays["dft_forces"] = rng.normal(size=(5, 3)).astype(np.float32).astype(float)
        images.append(atoms)
    write(tmp_path / "d.xyz", images, format="extxyz")
    frames = read_extxyz(tmp_path / "d.xyz", energy_key="dft_energy", forces_key="dft_forces")
    assert [f.energy for f in frames] == [a.info["dft_energy"] for a in images]
    with pytest.raises(ValueError, match="no 'energy'"):
        read_extxyz(tmp_path / "d.xyz")
    rc = main(
        [
            "data",
            "convert",
            str(tmp_path / "d.xyz"),
            "-o",
            str(tmp_path / "d.h5"),
            "--energy-key",
            "dft_energy",
            "--forces-key",
            "dft_forces",
        ]
    )
    assert rc == 0
    store = FrameStore(tmp_path / "d.h5")
    for k, (atoms, frame) in enumerate(zip(images, frames)):
        assert store[k].energy == atoms.info["dft_energy"]
        # the store keeps per-atom arrays in float32: exact to what the text file held, in float32
        assert np.array_equal(store[k].forces, frame.forces.astype(np.float32))
        assert np.array_equal(store[k].positions, frame.positions.astype(np.float32))
        np.testing.assert_allclose(store[k].forces, atoms.arrays["dft_forces"], atol=1e-6)
    assert main(["data", "info", str(tmp_path / "d.h5")]) == 0
    out = capsys.readouterr().out
    assert "frames            4 " in out and "H 16, C 4" in out
    # a frame store names a structure too: its first frame (the start of MD on stored chains)
    start = read_structure(tmp_path / "d.h5")
    assert start.get_chemical_symbols() == images[0].get_chemical_symbols()
    np.testing.assert_allclose(start.positions, images[0].positions, atol=1e-6)


def test_ase_db(tmp_path):
    from ase.db import connect

    rng = np.random.default_rng(2)
    with connect(str(tmp_path / "x.db")) as db:
        for k in range(3):
            atoms = Atoms("H2O", positions=rng.normal(size=(3, 3)))
            atoms.calc = SinglePointCalculator(atoms, energy=float(k), forces=rng.normal(size=(3, 3)))
            db.write(atoms)
    store = convert(tmp_path / "x.db", tmp_path / "x.h5")
    assert [store[k].energy for k in range(3)] == [0.0, 1.0, 2.0]


def test_calc_results_style_extxyz_md17_attrs_and_missing_keys(tmp_path):
    rng = np.random.default_rng(3)
    images = []
    for k in range(3):
        atoms = Atoms("H2O", positions=rng.normal(size=(3, 3)))
        atoms.calc = SinglePointCalculator(atoms, energy=float(k) - 0.25, forces=rng.normal(size=(3, 3)))
        images.append(atoms)
    write(tmp_path / "c.extxyz", images, format="extxyz")  # ASE writes these as calculator results
    frames = read_extxyz(tmp_path / "c.extxyz")
    assert [f.energy for f in frames] == [-0.25, 0.75, 1.75]
    np.testing.assert_allclose(frames[1].forces, images[1].get_forces(), atol=1e-8)
    assert len(read_extxyz(tmp_path / "c.extxyz", index="1:")) == 2

    np.savez(
        tmp_path / "m.npz",
        R=rng.normal(size=(2, 3, 3)),
        E=np.array([[1.0], [2.0]]),
        F=np.zeros((2, 3, 3)),
        z=np.array([8, 1, 1]),
    )
    store = convert([tmp_path / "m.npz"], tmp_path / "m.h5")
    assert store.attrs["level_of_theory"] == "PBE+vdW-TS (MD17)"
    assert store[1].energy == 2.0 * units.kcal / units.mol
    np.savez(tmp_path / "bad.npz", R=np.zeros((1, 3, 3)), z=np.array([8, 1, 1]))
    with pytest.raises(ValueError, match=r"missing \['E', 'F'\].*'R', 'z'"):
        read_md17_npz(tmp_path / "bad.npz")
    (tmp_path / "x.txt").write_text("1\n\nH 0 0 0\n")
    with pytest.raises(ValueError, match="cannot tell the format"):
        convert(tmp_path / "x.txt", tmp_path / "x.h5")
