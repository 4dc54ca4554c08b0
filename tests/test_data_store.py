"""Frame store: exact round trip, append after reopen, lazy reads, clear errors; splits."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.data.splits import grown_splits, load_or_make_splits, make_splits, splits_path, untrained_frames
from equipot.data.store import Frame, FrameStore


def frames(n, rng, periodic=False):
    out = []
    for k in range(n):
        if periodic:
            atoms = bulk("Cu", "fcc", a=3.6).repeat((1, 1, 1 + k % 3))
            stress = rng.normal(size=6) * 0.01
        else:
            atoms = Atoms("C" * (2 + k % 4) + "H" * (k % 3), positions=rng.normal(size=(2 + k % 4 + k % 3, 3)) * 2)
            stress = None
        atoms.positions = atoms.positions.astype(np.float32).astype(float)  # exactly representable
        forces = rng.normal(size=(len(atoms), 3)).astype(np.float32).astype(float)
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal() * 100), forces=forces, stress=stress)
        out.append(atoms)
    return out


def create(path):
    return FrameStore.create(path, level_of_theory="test", code="none", code_version="0", created_with="pytest")


@pytest.mark.parametrize("periodic", [False, True])
def test_round_trip_exact(tmp_path, periodic):
    rng = np.random.default_rng(0)
    written = frames(7, rng, periodic)
    with create(tmp_path / "s.h5") as store:
        store.append(written)
    store = FrameStore(tmp_path / "s.h5")
    assert len(store) == 7
    for k, atoms in enumerate(written):
        back = store.to_atoms(k)
        assert np.array_equal(back.numbers, atoms.numbers)
        assert np.array_equal(back.positions, atoms.positions)
        assert back.get_potential_energy() == atoms.get_potential_energy()
        assert np.array_equal(back.get_forces(), atoms.get_forces())
        assert np.array_equal(back.pbc, atoms.pbc)
        np.testing.assert_array_equal(back.cell.array, atoms.cell.array)
        if periodic:
            np.testing.assert_array_equal(back.get_stress(), atoms.get_stress())
    attrs = store.attrs
    assert attrs["format"] == "equipot-h5" and attrs["energy_unit"] == "eV" and attrs["length_unit"] == "Angstrom"
    assert attrs["level_of_theory"] == "test"


def test_append_after_reopen_keeps_everything(tmp_path):
    rng = np.random.default_rng(1)
    first, second = frames(3, rng), frames(4, rng)
    with create(tmp_path / "s.h5") as store:
        store.append(first)
    with FrameStore(tmp_path / "s.h5", mode="a") as store:
        store.append(second)
    store = FrameStore(tmp_path / "s.h5")
    assert len(store) == 7
    for k, atoms in enumerate(first + second):
        assert store[k].energy == atoms.get_potential_energy()
        assert np.array_equal(store[k].positions, atoms.positions)
        assert store[k].frame_id == k


def test_summary_and_errors(tmp_path):
    rng = np.random.default_rng(2)
    written = frames(5, rng)
    with create(tmp_path / "s.h5") as store:
        store.append(written)
        summary = store.summary()
    energies = [a.get_potential_energy() for a in written]
    assert summary["frames"] == 5
    assert summary["energy_mean"] == pytest.approx(np.mean(energies))
    assert summary["elements"]["C"] == sum(a.get_chemical_symbols().count("C") for a in written)
    with pytest.raises(FileExistsError):
        create(tmp_path / "s.h5")
    with pytest.raises(IndexError):
        FrameStore(tmp_path / "s.h5")[5]
    with pytest.raises(ValueError, match="read-only"):
        FrameStore(tmp_path / "s.h5").append(written[0])
    (tmp_path / "other.h5").write_bytes(b"")
    import h5py

    h5py.File(tmp_path / "other.h5", "w").close()
    with pytest.raises(ValueError, match="not an equipot frame store"):
        FrameStore(tmp_path / "other.h5")
    with FrameStore(tmp_path / "s.h5", mode="a") as store:
        with pytest.raises(ValueError, match="energy"):
            store.append(Frame(numbers=np.array([1]), positions=np.zeros((1, 3))))


def test_trajectory_positions_equals_frame_by_frame_and_refuses_mixed_stores(tmp_path):
    rng = np.random.default_rng(5)
    start = Atoms("CCOH", positions=rng.normal(size=(4, 3)))
    traj = []
    for _ in range(6):
        atoms = start.copy()
        atoms.positions = (start.positions + rng.normal(size=(4, 3)) * 0.1).astype(np.float32).astype(float)
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()), forces=np.zeros((4, 3)))
        traj.append(atoms)
    with create(tmp_path / "traj.h5") as store:
        store.append(traj)
        positions = store.trajectory_positions()
        assert positions.shape == (6, 4, 3) and positions.dtype == np.float64
        assert np.array_equal(positions, np.stack([store[i].positions for i in range(len(store))]))
    with create(tmp_path / "mixed.h5") as store:
        store.append(frames(3, rng))  # 2, 4 and 6 atoms
        with pytest.raises(ValueError, match="different sizes"):
            store.trajectory_positions()
    swapped = traj[0].copy()
    swapped.numbers = swapped.numbers[::-1]
    swapped.calc = SinglePointCalculator(swapped, energy=0.0, forces=np.zeros((4, 3)))
    with create(tmp_path / "swapped.h5") as store:
        store.append([traj[0], swapped])
        with pytest.raises(ValueError, match="different systems"):
            store.trajectory_positions()


def test_a_grown_split_keeps_every_frames_assignment():
    sizes = {"train": 0.8, "val": 0.2, "test": 0.0}
    first = make_splits(50, sizes, seed=1)
    assert all(np.array_equal(grown_splits(50, sizes, 1, ())[k], first[k]) for k in sizes)
    second = grown_splits(70, sizes, 1, [50])
    third = grown_splits(80, sizes, 1, [50, 70, 70])  # a round that added nothing
    for earlier, later, n in ((first, second, 50), (second, third, 70)):
        for k in sizes:  # the frames that were there keep their split
            assert np.array_equal(later[k][later[k] < n], earlier[k])
    # the appended frames are split in the same fractions among themselves, all of them used
    new = {k: second[k][second[k] >= 50] for k in sizes}
    assert [len(new[k]) for k in sizes] == [16, 4, 0]
    assert sorted(np.concatenate(list(third.values()))) == list(range(80))
    # a plain split of all 70 frames would move frames between train and val
    plain = make_splits(70, sizes, seed=1)
    assert not np.array_equal(plain["val"][plain["val"] < 50], first["val"])
    with pytest.raises(ValueError, match="fractional sizes"):
        grown_splits(70, {"train": 40, "val": 10}, 1, [50])
    with pytest.raises(ValueError, match="must not decrease"):
        grown_splits(70, sizes, 1, [60, 50])
    with pytest.raises(ValueError, match="must not decrease"):
        grown_splits(40, sizes, 1, [50])


def test_untrained_frames_leave_out_what_a_parent_model_trained_on():
    def meta(files, train, val, test):
        cfg = {"train_size": train, "val_size": val, "test_size": test, "split_seed": 0}
        return {"data": files, "train_config": cfg}

    parent = meta(["runs/chains.h5"], 0.8, 0.1, 0.1)
    child = meta(["other/chains.h5", "melt.h5"], 12, 1, 2)  # a fine-tune: counts, another folder
    alone = untrained_frames([parent], "chains.h5", 200)
    assert np.array_equal(alone, make_splits(200, {"train": 0.8, "val": 0.1, "test": 0.1}, 0)["test"])
    # the child's own test frames of the chains were in the parent's training split: none is kept
    child_test = make_splits(200, {"train": 12, "val": 1, "test": 2}, 0)["test"]
    both = untrained_frames([child, parent], "chains.h5", 200)
    assert np.array_equal(both, alone) and not set(child_test) & set(both)
    # a file only the child trained on is judged on the child's test frames
    assert np.array_equal(
        untrained_frames([child, parent], "melt.h5", 15), make_splits(15, {"train": 12, "val": 1, "test": 2}, 0)["test"]
    )
    assert untrained_frames([child, parent], "unknown.h5", 15) is None


def test_splits_disjoint_reproducible_and_saved(tmp_path):
    a = make_splits(100, {"train": 0.7, "val": 10, "test": 0.2}, seed=3)
    b = make_splits(100, {"train": 0.7, "val": 10, "test": 0.2}, seed=3)
    assert [len(a[k]) for k in ("train", "val", "test")] == [70, 10, 20]
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert len(set(np.concatenate(list(a.values())))) == 100
    c = make_splits(100, {"train": 0.7, "val": 10, "test": 0.2}, seed=4)
    assert not np.array_equal(a["train"], c["train"])
    with pytest.raises(ValueError, match="more than"):
        make_splits(10, {"train": 8, "val": 5}, seed=0)
    with pytest.raises(ValueError, match="more than"):
        make_splits(10, {"train": 0.9, "val": 0.2}, seed=0)
    # fractions that fit always fit: 0.9 and 0.1 of 175 round one by one to 158 + 18
    for n, sizes in ((175, {"train": 0.9, "val": 0.1, "test": 0.0}), (15, {"train": 0.8, "val": 0.1, "test": 0.1})):
        split = make_splits(n, sizes, seed=0)
        assert sum(len(v) for v in split.values()) == n
        assert len(split["train"]) == round(sizes["train"] * n)
    data = tmp_path / "d.h5"
    saved = load_or_make_splits(data, 100, {"train": 0.7, "val": 10, "test": 0.2}, seed=3)
    assert splits_path(data).is_file()
    assert np.array_equal(saved["test"], a["test"])


def test_reads_are_lazy(tmp_path, monkeypatch):
    """store[i] reads only frame i's slice of the per-atom arrays, never a whole dataset."""
    import h5py

    rng = np.random.default_rng(5)
    with create(tmp_path / "s.h5") as store:
        store.append(frames(20, rng))
    store = FrameStore(tmp_path / "s.h5")
    reads = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        reads.append((self.name, key))
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    frame = store[13]
    per_atom = [key for name, key in reads if name in ("/numbers", "/positions", "/forces")]
    assert per_atom and all(isinstance(k, slice) and k.stop - k.start == len(frame.numbers) for k in per_atom)
    assert all(not (isinstance(k, slice) and k == slice(None)) for _, k in reads)


def _energy_in_child(args):
    store, i = args
    return store[i].energy


def test_store_works_in_forked_workers(tmp_path):
    """Like DataLoader workers: a store already open in the parent is reopened per process."""
    import multiprocessing

    rng = np.random.default_rng(6)
    written = frames(6, rng)
    with create(tmp_path / "s.h5") as store:
        store.append(written)
    store = FrameStore(tmp_path / "s.h5")
    assert store[0].energy == written[0].get_potential_energy()  # parent holds an open handle
    with multiprocessing.get_context("fork").Pool(2) as pool:
        energies = pool.map(_energy_in_child, [(store, i) for i in range(6)])
    assert energies == [a.get_potential_energy() for a in written]
    assert store[5].energy == written[5].get_potential_energy()  # parent handle still fine


def test_append_atoms_with_info_and_arrays(tmp_path):
    """Without a calculator, energy comes from atoms.info['energy'], forces from arrays['forces']."""
    atoms = Atoms("H2O", positions=[[0, 0, 0], [0.75, 0.5, 0], [-0.75, 0.5, 0]])
    atoms.info["energy"] = -12.5
    atoms.arrays["forces"] = np.arange(9, dtype=float).reshape(3, 3)
    with create(tmp_path / "s.h5") as store:
        store.append(atoms)
        store.append(
            Frame(numbers=atoms.numbers, positions=atoms.positions, energy=-1.0, forces=np.zeros((3, 3)), frame_id=42)
        )
        assert store[0].energy == -12.5 and np.array_equal(store[0].forces, atoms.arrays["forces"])
        assert store[1].frame_id == 42
        with pytest.raises(ValueError, match="forces missing"):
            store.append(Frame(numbers=atoms.numbers, positions=atoms.positions, energy=0.0))


def test_half_written_frame_is_ignored_and_overwritten(tmp_path):
    """A run killed inside append leaves extra rows in some arrays; the store ignores them."""
    import h5py

    rng = np.random.default_rng(7)
    written = frames(4, rng)
    with create(tmp_path / "s.h5") as store:
        store.append(written[:2])
    with h5py.File(tmp_path / "s.h5", "a") as fh:  # simulate the kill: per-atom + some per-frame rows
        fh["numbers"].resize(fh["numbers"].shape[0] + 3, axis=0)
        fh["positions"].resize(fh["positions"].shape[0] + 3, axis=0)
        fh["n_atoms"].resize(3, axis=0)
        fh["offset"].resize(3, axis=0)
    with FrameStore(tmp_path / "s.h5", mode="a") as store:
        assert len(store) == 2
        store.append(written[2:])
        assert len(store) == 4
        for k, atoms in enumerate(written):
            assert np.array_equal(store[k].positions, atoms.positions)
            assert store[k].energy == atoms.get_potential_energy()
