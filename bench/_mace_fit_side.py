"""MACE side of bench/accuracy_vs_mace.py: runs in the MACE environment (mace-torch 0.3.16).

    python _mace_fit_side.py evaluate MODEL.model DTYPE FILE.xyz     -> force/energy MAE (JSON)
    python _mace_fit_side.py md MODEL.model DTYPE START.xyz STEPS   -> ASE MD steps/s (JSON)

Training itself is MACE's own command line (``mace_run_train``), called by the benchmark with
MACE's documented recipe. Not imported by equipot (MACE pins e3nn 0.4.4).
"""

import json
import sys

import numpy as np
from _mace_side import md_steps_per_s
from ase.io import read
from mace.calculators import MACECalculator


def evaluate(model: str, dtype: str, path: str) -> dict:
    calc = MACECalculator(model_paths=model, device="cpu", default_dtype=dtype)
    de, df, n_atoms = [], [], []
    for atoms in read(path, ":"):
        ref_e, ref_f = atoms.info["REF_energy"], atoms.arrays["REF_forces"]
        atoms.calc = calc
        de.append(atoms.get_potential_energy() - ref_e)
        df.append((atoms.get_forces() - ref_f).reshape(-1))
        n_atoms.append(len(atoms))
    de, df = np.array(de) * 1000, np.concatenate(df) * 1000
    return {
        "energy_mae": float(np.abs(de).mean()),
        "energy_per_atom_mae": float(np.abs(de / np.array(n_atoms)).mean()),
        "force_mae": float(np.abs(df).mean()),
        "frames": len(n_atoms),
    }


def md_rate(model: str, dtype: str, path: str, steps: int) -> dict:
    atoms = read(path)
    atoms.calc = MACECalculator(model_paths=model, device="cpu", default_dtype=dtype)
    return {"steps_per_s": md_steps_per_s(atoms, steps)}


def main() -> None:
    mode, model, dtype, path = sys.argv[1:5]
    out = evaluate(model, dtype, path) if mode == "evaluate" else md_rate(model, dtype, path, int(sys.argv[5]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
