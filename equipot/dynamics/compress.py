"""A packed melt (``equipot.data.melts.pack_chains``) brought to its density by MD: the box
shrinks in stages, chains moving whole, and Langevin MD on a potential relaxes the contacts
after each stage."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from equipot.data.melts import box_side
from equipot.errors import EquipotError


def compress(
    box: Atoms,
    density_g_cm3: float,
    calculator=None,
    *,
    factor: float = 0.98,
    steps_per_stage: int = 100,
    temperature_K: float = 600.0,
    seed: int = 0,
) -> Atoms:
    """``box`` (from ``pack_chains``) brought to ``density_g_cm3`` in stages: each shrinks the
    cell by at most ``factor`` in length, moving every chain whole with its centre (bonds are
    untouched), then relaxes the new contacts by ``steps_per_stage`` steps of Langevin MD on
    ``calculator`` at ``temperature_K``. Returns a new box; ``box`` is left as it was."""
    from equipot.dynamics.md import run_md

    if not 0 < factor < 1:
        raise EquipotError(f"factor must be between 0 and 1, got {factor}")
    if steps_per_stage and calculator is None:
        raise EquipotError("relaxing between stages needs a calculator (or steps_per_stage=0)")
    box = box.copy()
    chain = box.arrays["chain"]
    target = box_side([box], density_g_cm3)
    stage = 0
    while box.cell[0, 0] > target * (1 + 1e-12):
        scale = max(factor, target / box.cell[0, 0])
        for k in np.unique(chain):
            mine = chain == k
            box.positions[mine] += (scale - 1) * box.positions[mine].mean(axis=0)
        box.set_cell(box.cell.array * scale, scale_atoms=False)
        if steps_per_stage:
            box.calc = calculator
            run_md(
                box,
                temperature_K=temperature_K,
                steps=steps_per_stage,
                seed=seed + stage,
                monitors=[],
                progress=False,
                init_velocities=stage == 0,
            )
        stage += 1
    return box
