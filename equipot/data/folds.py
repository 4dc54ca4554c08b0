"""Leave-classes-out folds over a folder of polymer stores, and the training-file selections that
the generalisation benchmark varies one at a time.

A class fold (``equipot.data.polymers.CLASS_FOLDS``) holds out two whole chemistry classes: a
model trains on the other classes' files and is tested on the test frames of both, "seen"
(families it trained on, frames it did not) and "unseen" (classes it never saw). The temperature
fold trains on every family's 300 K and 450 K files and tests at 600 K ("unseen") against the
450 K test frames ("seen"). A fold is ``{"name", "train", "seen", "unseen"}``, lists of paths.
"""

from __future__ import annotations

import functools
from pathlib import Path

from equipot.data.polymers import CLASS_FOLDS, POLYMER_CLASSES, family_of_file
from equipot.data.store import FrameStore
from equipot.errors import EquipotError

TEMPERATURE_FOLD = "temperature: 300+450 K -> 600 K"


def complete(path: Path, frames: int) -> bool:
    """Whether a store can be split ``frames`` ways: not open for writing by a generation still
    running, and holding that many frames."""
    try:
        with FrameStore(path) as store:
            return len(store) >= frames
    except EquipotError:
        return False


def class_folds(data: Path, frames: int, quick: bool = False) -> list[dict]:
    """The class folds and the temperature fold over the complete ``<family>_<atoms>_<T>K.h5``
    stores in ``data`` (those with at least ``frames`` frames); ``quick``: the first class fold
    and the temperature fold only. A class fold none of whose families has a file is left out."""
    files = [f for f in sorted(Path(data).glob("*_*_*K.h5")) if complete(f, frames)]
    info = {f: family_of_file(f) for f in files}
    out = []
    for held in CLASS_FOLDS[:1] if quick else CLASS_FOLDS:
        seen = [f for f in files if POLYMER_CLASSES[info[f][0]] not in held]
        unseen = [f for f in files if POLYMER_CLASSES[info[f][0]] in held]
        if unseen:
            out.append({"name": " + ".join(held), "train": seen, "seen": seen, "unseen": unseen})
    cool = [f for f in files if info[f][2] <= 450]
    out.append(
        {
            "name": TEMPERATURE_FOLD,
            "train": cool,
            "seen": [f for f in cool if info[f][2] == 450],
            "unseen": [f for f in files if info[f][2] > 450],
        }
    )
    return out


@functools.cache
def family_elements(short: str) -> frozenset[str]:
    """The elements of a polymer family: those of its H-capped monomer, as the generator builds it."""
    from equipot.data.polymers import build_oligomer

    return frozenset(build_oligomer(short, 1, relax=False).get_chemical_symbols())


def _families_fraction(files: list[Path], fraction: float) -> list[Path]:
    """The files of ``round(n * fraction)`` families of each class (at least one, spread evenly
    over the class's sorted members), plus any family that is the only carrier of an element."""
    by_class: dict[str, list[str]] = {}
    for short in sorted({family_of_file(f)[0] for f in files}):
        by_class.setdefault(POLYMER_CLASSES[short], []).append(short)
    keep = set()
    for members in by_class.values():
        k = max(1, round(len(members) * fraction))
        keep |= {s for i, s in enumerate(members) if (i + 1) * k // len(members) > i * k // len(members)}
    for short in sorted(set().union(*by_class.values())):
        if not family_elements(short) <= set().union(*(family_elements(s) for s in keep)):
            keep.add(short)
    return [f for f in files if family_of_file(f)[0] in keep]


def training_files(files: list[Path], selection: dict) -> list[Path]:
    """The files a variant trains on: those at ``temperatures`` (K, a list) only, and of a
    fraction ``families`` of the families only, spread evenly over each chemistry class (so a
    class is never dropped whole), with a family added back wherever the fraction would drop
    the only carrier of an element (a model could not run on that element's test frames).
    Without either key, every file. The test frames stay the fold's, so a variant that trains
    on fewer families or temperatures is still tested on all.

    Raises:
        EquipotError: the selection leaves no file.
    """
    temperatures = selection.get("temperatures")
    if temperatures is not None:
        files = [f for f in files if family_of_file(f)[2] in {float(t) for t in temperatures}]
    if selection.get("families") is not None:
        files = _families_fraction(files, float(selection["families"]))
    if not files:
        raise EquipotError(f"the selection {selection} leaves no training file")
    return files
