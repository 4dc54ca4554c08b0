"""A packed melt (``equipot.data.melts.pack_chains``) brought to its density by MD: the box
shrinks in stages, chains moving whole, and Langevin MD on a potential relaxes the contacts
after each stage. ``build_melt`` does the whole of it for a polymer family: oligomers built,
packed loose, compressed, and checked."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from equipot.data.melts import MeltCheck, box_density, box_side, closest_contact, pack_chains
from equipot.errors import EquipotError

# A stage may bring chains to this fraction of the packer's contact distances (CONTACT), and
# no closer: the MD of the stage then pushes them apart. A full step that would go closer is
# shortened, down to MIN_STEP of the box length.
CONTACT_FLOOR = 0.75
MIN_STEP = 1e-3


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
    ``calculator`` at ``temperature_K``. Returns a new box; ``box`` is left as it was.

    A stage that would bring two chains closer than ``CONTACT_FLOOR`` of their contact distance
    shrinks less (chains interpenetrate, and a fixed step pushed hydrogens of two chains onto
    each other); when even a step of ``MIN_STEP`` would, the stage only relaxes. A box whose
    contacts do not relax raises ``EquipotError`` instead of running MD on overlapping atoms."""
    from equipot.dynamics.md import run_md

    if not 0 < factor < 1:
        raise EquipotError(f"factor must be between 0 and 1, got {factor}")
    if steps_per_stage and calculator is None:
        raise EquipotError("relaxing between stages needs a calculator (or steps_per_stage=0)")
    box = box.copy()
    target = box_side([box], density_g_cm3)
    stage, stuck = 0, 0
    while box.cell[0, 0] > target * (1 + 1e-12):
        if not _shrink(box, max(factor, target / box.cell[0, 0])):
            stuck += 1
            if not steps_per_stage or stuck > 20:
                raise EquipotError(
                    f"compression to {density_g_cm3} g/cm^3 is stuck at {box_density(box):.3f} g/cm^3: chains "
                    f"stay closer than {CONTACT_FLOOR} of their contact distances; relax longer per stage "
                    "or pack at a lower density"
                )
        else:
            stuck = 0
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


def build_melt(
    family: str,
    density_g_cm3: float,
    calculator,
    *,
    chains: int = 5,
    chain_atoms: int = 30,
    loose_density: float = 0.55,
    factor: float = 0.95,
    steps_per_stage: int = 50,
    seed: int = 0,
    wall: bool = True,
) -> tuple[Atoms, MeltCheck]:
    """(box, its check): ``chains`` H-capped oligomers of ``family`` (short name or SMILES), each
    of about ``chain_atoms`` atoms and its own conformer (seeds ``seed``, ``seed + 1``, ...),
    packed at ``loose_density`` (or ``density_g_cm3`` if lower), compressed on ``calculator``
    to ``density_g_cm3``, and the ``MeltCheck`` of the chains as packed. With ``wall`` the
    compression runs on ``calculator`` plus the check's ``ContactWall``
    (``equipot.dynamics.walls``), which keeps the chains out of what the check rejects.

    Raises ``EquipotError`` when the compressed box already fails its check: the potential let
    two chains overlap or a bond break while the box shrank (build again from another seed, or
    drive the compression with a potential trained on melts)."""
    from equipot.data.polymers import ALIASES, build_oligomer, n_repeat_for_atoms

    name = ALIASES.get(family, family)
    n = n_repeat_for_atoms(name, chain_atoms)
    oligomers = [build_oligomer(name, n, seed=seed + k) for k in range(chains)]
    loose = pack_chains(oligomers, min(loose_density, density_g_cm3), seed=seed)
    check = MeltCheck(loose)
    if wall and calculator is not None:
        from equipot.dynamics.walls import walled

        calculator = walled(calculator, check)
    box = compress(loose, density_g_cm3, calculator, factor=factor, steps_per_stage=steps_per_stage, seed=seed)
    if (problem := check(box)) is not None:
        raise EquipotError(f"{family} at {density_g_cm3} g/cm^3 after compression: {problem}")
    return box, check


def _shrink(box: Atoms, scale: float) -> bool:
    """Shrink ``box`` in place by ``scale`` in length, or by less where a full step would
    bring two chains closer than ``CONTACT_FLOOR`` of contact (each chain moves whole with its
    centre). False when even ``MIN_STEP`` would: the box is left as it was."""
    chain = box.arrays["chain"]
    start, cell = box.positions.copy(), box.cell.array.copy()
    while 1 - scale >= MIN_STEP * (1 - 1e-9):
        for k in np.unique(chain):
            mine = chain == k
            box.positions[mine] = start[mine] + (scale - 1) * start[mine].mean(axis=0)
        box.set_cell(cell * scale, scale_atoms=False)
        if closest_contact(box) >= CONTACT_FLOOR:
            return True
        scale = 1 - (1 - scale) / 2
    box.positions, box.cell = start, cell
    return False
