"""Run one LAMMPS case with pair_style equipot and save what it computed (rank 0 writes).

    [mpirun -np N] python tests/lammps_case.py OUT.npz DATA_FILE MODEL ELEMENTS [NVE_STEPS] [COMM_CUTOFF]

Used by tests/test_lammps.py to compare 1 and 2 MPI ranks with the ASE calculator.
"""

import sys

import numpy as np


def main() -> None:
    out, data, model, elements = sys.argv[1:5]
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    comm_cutoff = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    from equipot.lammps.bridge import run

    commands = ["units metal", "atom_style atomic", "atom_modify map yes", f"read_data {data}",
                f"pair_style equipot {model}", f"pair_coeff * * {elements.replace(',', ' ')}",
                "neighbor 1.0 bin", "compute pe all pe/atom", "thermo_style custom step pe ke etotal press",
                "thermo_modify format float %20.15g", "run 0"]
    if comm_cutoff:
        commands.insert(4, f"comm_modify cutoff {comm_cutoff}")
    lmp = run(None, screen=False, commands=commands)
    n = lmp.get_natoms()
    result = {
        "energy": lmp.get_thermo("pe"), "press": lmp.get_thermo("press"),
        "forces": np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3),
        "positions": np.array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3),
        "energies": np.array(lmp.gather("c_pe", 1, 1)).reshape(n),
        "ranks": int(lmp.extract_setting("world_size")),
    }
    if steps:
        lmp.command("velocity all create 300.0 4928459 mom yes rot yes")
        lmp.command("fix nve all nve")
        lmp.command("timestep 0.0005")
        lmp.command(f"run {steps}")
        result["etotal"] = lmp.get_thermo("etotal")
    if lmp.extract_setting("world_rank") == 0:
        np.savez(out, **result)
    lmp.close()


if __name__ == "__main__":
    main()
