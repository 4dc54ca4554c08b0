"""Write shipped_reference.npz: float64 energies, per-atom energies and forces of every shipped
model on the bundled MD17 geometries and on a rattled periodic polyethylene box (with stress).

The file pins what the shipped checkpoints compute, so a refactor of the model code can be
checked to change nothing (``tests/test_shipped_equality.py``). Regenerate it only when a
change of the numbers is intended, and say so in the commit:

    python tests/data/make_shipped_reference.py [--models NAME ...]

``--models`` recomputes only those models' entries (a retrained model), on the structures
already in the file, and keeps every other entry as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.io import read

from equipot import EquiformerCalculator
from equipot.checkpoint import shipped_models
from equipot.data.polymers import polyethylene_crystal

HERE = Path(__file__).resolve().parent
GEOMETRIES = Path(__file__).resolve().parents[2] / "equipot" / "geometries"


def polyethylene_box() -> Atoms:
    """Crystalline polyethylene repeated 2x2x3 and rattled: 144 atoms, periodic."""
    box = polyethylene_crystal((2, 2, 3))
    box.rattle(0.03, seed=7)
    return box


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="only these shipped models (default: all, anew)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = HERE / "shipped_reference.npz"
    if args.models:
        out = dict(np.load(path))
        out = {k: v for k, v in out.items() if k.split(":")[0] not in args.models or ":" not in k}
        names = sorted({k.split("/")[0] for k in out if ":" not in k})
        structures = {
            n: Atoms(
                numbers=out[f"{n}/numbers"], positions=out[f"{n}/positions"], cell=out[f"{n}/cell"], pbc=out[f"{n}/pbc"]
            )
            for n in names
        }
    else:
        structures = {p.stem: read(p) for p in sorted(GEOMETRIES.glob("*.xyz"))}
        structures["polyethylene_box"] = polyethylene_box()
        out = {}
        for name, atoms in structures.items():
            out[f"{name}/numbers"] = atoms.numbers
            out[f"{name}/positions"] = atoms.positions
            out[f"{name}/cell"] = atoms.cell.array
            out[f"{name}/pbc"] = atoms.pbc
    for model in args.models or sorted(shipped_models()):
        calc = EquiformerCalculator(model, dtype="float64")
        for name, atoms in structures.items():
            if not set(atoms.get_chemical_symbols()) <= set(calc.model.species):
                continue
            atoms = atoms.copy()
            atoms.calc = calc
            key = f"{model}:{name}"
            out[f"{key}/energy"] = np.array(atoms.get_potential_energy())
            out[f"{key}/energies"] = atoms.get_potential_energies()
            out[f"{key}/forces"] = atoms.get_forces()
            if atoms.pbc.any():
                out[f"{key}/stress"] = atoms.get_stress()
            print(key, float(out[f"{key}/energy"]))
    np.savez_compressed(path, **out)


if __name__ == "__main__":
    main()
