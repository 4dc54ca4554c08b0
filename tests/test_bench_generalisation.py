"""The generalisation benchmark's folds and data-selection variants (``equipot.data.folds``):
which files a fold and a variant train on, and how bench/generalisation.py reads a variant's
settings from the command line."""

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from generalisation import parse_variants  # noqa: E402

from equipot.data.folds import class_folds, family_elements, training_files  # noqa: E402
from equipot.data.polymers import CLASS_FOLDS, POLYMER_CLASSES, family_of_file  # noqa: E402
from equipot.errors import EquipotError  # noqa: E402
from equipot.train.metrics import pooled_error_metrics  # noqa: E402


def _files():
    """One file per family at each of 300, 450 and 600 K (names only: selection reads names)."""
    return [Path(f"{short}_30_{t}K.h5") for short in sorted(POLYMER_CLASSES) for t in (300, 450, 600)]


def test_family_fraction_keeps_every_class_and_all_temperatures_of_a_family():
    files = _files()
    half = training_files(files, {"families": 0.5})
    kept = Counter(family_of_file(f)[0] for f in half)
    assert set(kept.values()) == {3}  # a family comes with all its files
    per_class = Counter(POLYMER_CLASSES[s] for s in kept)
    every = Counter(POLYMER_CLASSES.values())
    assert set(per_class) == set(every)  # no class dropped whole
    for cls, n in every.items():  # half of each class, rounded, at least one
        assert max(1, round(n / 2)) <= per_class[cls] <= max(1, round(n / 2)) + 1
    elements = lambda names: set().union(*(family_elements(s) for s in names))  # noqa: E731
    assert elements(kept) == elements(POLYMER_CLASSES) >= {"H", "C", "N", "O", "F", "S", "Cl"}
    # fold 0 of the benchmark holds out polyolefins and fluoropolymers: F is left only in PVF
    seen = [f for f in files if POLYMER_CLASSES[family_of_file(f)[0]] not in ("polyolefin", "fluoropolymer")]
    assert "F" in elements({family_of_file(f)[0] for f in training_files(seen, {"families": 0.5})})
    assert training_files(files, {"families": 1.0}) == files


def test_temperature_selection_and_combination():
    files = _files()
    t450 = training_files(files, {"temperatures": [450]})
    assert {family_of_file(f)[2] for f in t450} == {450.0}
    assert len(t450) == len(POLYMER_CLASSES)
    both = training_files(files, {"temperatures": [300, 450], "families": 0.5})
    assert {family_of_file(f)[2] for f in both} == {300.0, 450.0}
    assert len(both) == 2 * len({family_of_file(f)[0] for f in both})
    assert training_files(files, {}) == files


def test_parse_variants_keeps_lists_whole():
    variants = parse_variants(["t:temperatures=[300, 450],train_size=7", "c4:model.cutoff=4", "s1:seed=1"])
    assert variants == {
        "t": {"temperatures": [300, 450], "train_size": 7},
        "c4": {"model": {"cutoff": 4}},
        "s1": {"seed": 1},
    }


def test_empty_selection_is_an_error():
    with pytest.raises(EquipotError, match="leaves no training file"):
        training_files(_files(), {"temperatures": [900]})


def test_class_folds_hold_out_every_class_once(tmp_path):
    """Over a real folder: every class is unseen in exactly one fold, never trained on there, and
    the temperature fold trains at 300 and 450 K only; a store with too few frames is left out."""
    import numpy as np

    from equipot.data.store import Frame, FrameStore

    def store(name, frames):
        with FrameStore.create(tmp_path / name, level_of_theory="t", code="t", code_version="0", created_with="t"):
            pass
        with FrameStore(tmp_path / name, mode="a") as s:
            s.append(
                [
                    Frame(np.array([6, 1]), np.array([[0, 0, 0], [1.1, 0, k * 0.01]]), -1.0, np.zeros((2, 3)))
                    for k in range(frames)
                ]
            )

    shorts = sorted(POLYMER_CLASSES)
    for short in shorts:
        store(f"{short}_30_300K.h5", 3)
        store(f"{short}_30_600K.h5", 3)
    store(f"{shorts[0]}_60_450K.h5", 2)  # too few to split 3 ways
    folds = class_folds(tmp_path, 3)
    assert len(folds) == len(CLASS_FOLDS) + 1
    unseen = Counter(
        cls for fold in folds[:-1] for cls in {POLYMER_CLASSES[family_of_file(f)[0]] for f in fold["unseen"]}
    )
    assert set(unseen.values()) == {1} and set(unseen) == set(POLYMER_CLASSES.values())
    for fold in folds[:-1]:
        assert not set(fold["train"]) & set(fold["unseen"]) and fold["seen"] == fold["train"]
    temperature = folds[-1]
    assert {family_of_file(f)[2] for f in temperature["train"]} == {300.0}
    assert {family_of_file(f)[2] for f in temperature["unseen"]} == {600.0}
    assert all(family_of_file(f)[1] == 30 for fold in folds for f in fold["train"] + fold["unseen"])
    assert len(class_folds(tmp_path, 3, quick=True)) == 2


def test_offset_free_energy_error_removes_one_constant_per_file():
    """The pooled metrics of seen_unseen and the folds: an energy offset per chain (file) weighs
    in the energy MAE and not in the offset-free one, which keeps the frame-to-frame error."""
    rng = np.random.default_rng(0)
    n_atoms, ref = np.full(20, 30), rng.normal(size=20)
    noise = rng.normal(scale=0.01, size=20)
    noise -= noise.mean()
    forces = np.zeros((600, 3))
    plain = pooled_error_metrics([(ref + noise, ref, forces, forces, n_atoms)])
    shifted = pooled_error_metrics(
        [(ref + 0.3 + noise, ref, forces, forces, n_atoms), (ref - 0.6 + noise, ref, forces, forces, n_atoms)]
    )
    assert shifted["energy_per_atom_mae"] > 14  # offsets of 10 and 20 meV/atom
    assert shifted["energy_per_atom_offset_free_mae"] == pytest.approx(plain["energy_per_atom_mae"], rel=1e-9)
    assert plain["energy_per_atom_offset_free_mae"] == pytest.approx(plain["energy_per_atom_mae"], rel=1e-9)
