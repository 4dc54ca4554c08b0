"""MACE side of bench/mace_compare.py: runs in a separate environment with mace-torch.

Builds a random-weight ScaleShiftMACE (r_max 5 Å, 2 interactions, correlation 3, max_ell 3,
the given hidden irreps), runs ASE velocity Verlet on aspirin and prints steps/s as JSON.
Not imported by equipot (MACE pins e3nn 0.4.4, equipot uses a newer e3nn).
"""

import json
import sys
import time

import numpy as np
import torch
from ase import units
from ase.io import read
from ase.md import velocitydistribution
from ase.md.verlet import VelocityVerlet
from e3nn import o3
from mace import modules
from mace.calculators import MACECalculator


def build(hidden: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = modules.ScaleShiftMACE(
        r_max=5.0,
        num_bessel=8,
        num_polynomial_cutoff=5,
        max_ell=3,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=2,
        num_elements=4,
        hidden_irreps=o3.Irreps(hidden),
        MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.zeros(4),
        avg_num_neighbors=15.0,
        atomic_numbers=[1, 6, 7, 8],
        correlation=3,
        gate=torch.nn.functional.silu,
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )
    return model


def md_steps_per_s(atoms, steps: int) -> float:
    """ASE velocity-Verlet steps/s of ``atoms`` (calculator attached) from a 300 K start."""
    # the same draw as equipot's initialise_velocities(..., exact=False), written out because
    # equipot is not installed in the MACE environment; ASE >= 3.29 renamed MaxwellBoltzmannDistribution
    thermalize = getattr(velocitydistribution, "thermalize_momenta", None)
    if thermalize is not None:
        thermalize(atoms, 300, rng=np.random.default_rng(0))
    else:
        velocitydistribution.MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    velocitydistribution.Stationary(atoms)
    velocitydistribution.ZeroRotation(atoms)
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.run(3)
    t0 = time.perf_counter()
    dyn.run(steps)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    xyz, hidden, dtype, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    atoms = read(xyz)
    atoms.calc = MACECalculator(models=build(hidden), device="cpu", default_dtype=dtype)
    print(json.dumps({"steps_per_s": md_steps_per_s(atoms, steps)}))


if __name__ == "__main__":
    main()
