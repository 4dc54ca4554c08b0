"""bench/generalisation.py's data-selection variants: which files a variant trains on, and how a
variant's settings are read from the command line."""

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from generalisation import family_elements, parse_variants, training_files  # noqa: E402

from equipot.data.polymers import POLYMER_CLASSES, family_of_file  # noqa: E402


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
