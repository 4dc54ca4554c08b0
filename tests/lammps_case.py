"""Run one LAMMPS case with pair_style equipot and save what it computed (rank 0 writes).

    [mpirun -np N] python tests/lammps_case.py OUT.npz DATA_FILE MODEL ELEMENTS [NVE_STEPS] [COMM_CUTOFF] [D3_STYLE]

D3_STYLE (e.g. "dispersion/d3 bj pbe 31.75063 21.16709") overlays LAMMPS's D3 on pair_style equipot.

Used by tests/test_lammps.py to compare 1 and 2 MPI ranks with the ASE calculator.
"""

import sys

import numpy as np


def main() -> None:
    out, data, model, elements = sys.argv[1:5]
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    comm_cutoff = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    d3 = sys.argv[7] if len(sys.argv) > 7 else ""
    from equipot.lammps.bridge import run

    commands = [
        "units metal",
        "atom_style atomic",
        "atom_modify map yes",
        f"read_data {data}",
        f"pair_style equipot {model}",
        f"pair_coeff * * {elements.replace(',', ' ')}",
        "neighbor 1.0 bin",
        "compute pe all pe/atom",
        "compute sa all stress/atom NULL virial",
        "compute sv all reduce sum c_sa[1] c_sa[2] c_sa[3] c_sa[4] c_sa[5] c_sa[6]",
        "thermo_style custom step pe ke etotal press pxx pyy pzz pxy pxz pyz vol c_sv[1]",
        "thermo_modify format float %20.15g",
        "run 0",
    ]
    if d3:
        elements = elements.replace(",", " ")
        commands[4:6] = [
            "neigh_modify one 50000 page 500000",
            f"pair_style hybrid/overlay equipot {model} {d3}",
            f"pair_coeff * * equipot {elements}",
            f"pair_coeff * * dispersion/d3 {elements}",
        ]
    if comm_cutoff:
        commands.insert(4, f"comm_modify cutoff {comm_cutoff}")
    lmp = run(None, screen=False, commands=commands)
    n = lmp.get_natoms()
    result = {
        "energy": lmp.get_thermo("pe"),
        "press": lmp.get_thermo("press"),
        "forces": np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3),
        "positions": np.array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3),
        "energies": np.array(lmp.gather("c_pe", 1, 1)).reshape(n),
        "ranks": int(lmp.extract_setting("world_size")),
        # pressure tensor (bar) and the per-atom stresses summed (bar Å^3), xx yy zz xy xz yz
        "ptensor": np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")]),
        "volume": lmp.get_thermo("vol"),
        "stress_atom_sum": np.array([lmp.extract_compute("sv", 0, 1)[k] for k in range(6)]),
        "stress_atom": np.array(lmp.gather("c_sa", 1, 6)).reshape(n, 6),
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
