"""Regenerate datasets/melts_gfn2/<family>_<atoms>_<T>K_<density>.h5: periodic polymer melts
labelled with GFN2-xTB (energy, forces, stress).

Each box holds CHAINS oligomers of about CHAIN_ATOMS atoms (RDKit, H-capped, MMFF94-relaxed,
one conformer per seed), packed at 0.55 g/cm^3 with no contact closer than 2.0 Å between heavy
atoms (``equipot.data.melts.pack_chains``), then compressed in 5 % steps of the box length to
the run's density with 50 steps of 600 K Langevin MD between steps (``equipot.dynamics.compress``), and
equilibrated for EQUILIBRATION steps at the run's temperature. MD runs on a trained equipot
model (``--md-model``, default the shipped melt model polymers33-melts-gfn2; GFN2-xTB on a
150-atom periodic box takes tens of seconds a call on one core, too slow for MD); every STRIDE
steps (0.5 fs each) a frame is relabelled with periodic GFN2-xTB (tblite, default settings).
Several densities per family, each equilibrated at its own, so that the pressure varies.

Every frame passes ``equipot.data.melts.MeltCheck`` before it is labelled: the bonds of the
chains as built, and no two chains closer than 0.85 of the packer's contact distances. A model
trained on isolated chains only lets hydrogens of two chains overlap at melt density (H...H
near 1.0 Å); a box that fails is discarded and built again from another seed (``--attempts``).
The MD (compression, equilibration and sampling) runs on the model plus a repulsive wall
between chains that stands 0.2 Å off what the check rejects (``equipot.dynamics.walls``): the
melt model, trained on no PVC melt, pulls Cl atoms of two chains into bonds without it.
``--no-wall`` leaves it out, as the first five families were made. Labels never include it.

Runs (``DENSITY_FACTOR:TEMPERATURE_K:FRAMES``, the factor times the family's amorphous
density near room temperature, ``DENSITY``) go run-major: every family's first run, then every
family's second, so an interrupted generation covers all families first. Rerunning a command
finishes an interrupted file exactly (``sample_md`` resumes from the restart state beside it).

    OMP_NUM_THREADS=1 python datasets/make_melts_gfn2.py                 # every family and run
    OMP_NUM_THREADS=1 python datasets/make_melts_gfn2.py pmma --runs 1.0:450:10
"""

import argparse
import re
import time
from pathlib import Path

import h5py

from equipot.data.melts import AMORPHOUS_DENSITY, MeltCheck
from equipot.data.polymers import ALIASES, atoms_per_repeat, n_repeat_for_atoms
from equipot.data.reference import gfn2_calculator
from equipot.data.store import FrameStore
from equipot.dynamics.compress import build_melt
from equipot.dynamics.sampling import report_path, sample_md, state_path
from equipot.dynamics.walls import ContactWall, walled
from equipot.errors import EquipotError

DENSITY = AMORPHOUS_DENSITY
RUNS = ["1.0:300:15", "0.9:600:15", "1.05:450:15"]
CHAINS, CHAIN_ATOMS, STRIDE, EQUILIBRATION = 5, 30, 100, 500
ATTEMPT_SEEDS = 1000  # a rejected box is built again from seed + ATTEMPT_SEEDS


def run_file(
    short: str, run: str, k: int, seed: int, out: Path, md_calculator, attempts: int = 3, wall: bool = True
) -> None:
    """One store of ``run``; a box that fails its check is discarded and built again from the
    seed ``ATTEMPT_SEEDS`` further on, ``attempts`` times at most."""
    for attempt in range(attempts):
        try:
            return _sample_file(short, run, k, seed + attempt * ATTEMPT_SEEDS, out, md_calculator, wall)
        except EquipotError as err:
            print(f"rejected: {err}", flush=True)
            path = store_path(short, run, out)
            for stale in (path, state_path(path), report_path(path)):
                stale.unlink(missing_ok=True)
    print(f"{short} {run}: no box passed its check in {attempts} attempts", flush=True)


def store_path(short: str, run: str, out: Path) -> Path:
    """``out/<family>_<atoms>_<T>K_<density>gcc.h5`` of one run of a family."""
    factor, temperature, _ = (float(x) for x in run.split(":"))
    per_unit, caps = atoms_per_repeat(ALIASES[short])
    chain_atoms = caps + per_unit * n_repeat_for_atoms(ALIASES[short], CHAIN_ATOMS)
    return out / f"{short}_{CHAINS * chain_atoms}_{int(temperature)}K_{DENSITY[short] * factor:.3f}gcc.h5"


def _sample_file(short: str, run: str, k: int, seed: int, out: Path, md_calculator, wall: bool) -> None:
    factor, temperature, frames = (float(x) for x in run.split(":"))
    density = round(DENSITY[short] * factor, 3)
    path = store_path(short, run, out)
    done = 0
    if path.is_file():
        with FrameStore(path) as store:
            done = len(store)
        if done >= int(frames):
            return
    start = time.perf_counter()
    # a store with frames resumes from its own state; one stopped before its first frame starts again
    if done:
        box = _template(path)
        check = MeltCheck(box)
    else:
        box, check = build_melt(
            short, density, md_calculator, chains=CHAINS, chain_atoms=CHAIN_ATOMS, seed=seed + k, factor=0.95, wall=wall
        )
    store = sample_md(
        box,
        walled(md_calculator, check) if wall else md_calculator,
        path,
        temperature_K=temperature,
        n_frames=int(frames),
        stride=STRIDE,
        equilibration_steps=EQUILIBRATION,
        seed=seed + k,
        level_of_theory="GFN2-xTB",
        code="tblite",
        # run 0 of seed + k
        created_with=f"python datasets/make_melts_gfn2.py {short} --runs {run} --seed {seed + k}{'' if wall else ' --no-wall'}",
        progress=False,
        labeller=gfn2_calculator(),
        check=check,
        setup_minutes=(time.perf_counter() - start) / 60,  # building and compressing the box
    )
    store.close()
    minutes = (time.perf_counter() - start) / 60
    with h5py.File(path, "a") as fh:
        fh.attrs["density_g_cm3"] = density
        fh.attrs["md_wall"] = repr(ContactWall(check.chain, check.bonds, floor=check.floor)) if wall else "none"
    print(f"{path.name}: {int(frames)} frames, {minutes:.1f} min", flush=True)


def _template(path: Path):
    """The system of an existing store (``sample_md`` resumes it from its own state)."""
    with FrameStore(path) as store:
        return store[0].to_atoms()


def main() -> None:
    from equipot.calculator import EquiformerCalculator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", default=list(DENSITY))
    parser.add_argument("--runs", nargs="+", default=RUNS)
    parser.add_argument("--seed", type=int, default=0, help="run k of a family uses seed + k")
    parser.add_argument("--md-model", default="polymers33-melts-gfn2")
    parser.add_argument("--attempts", type=int, default=3, help="boxes to build before giving a run up")
    parser.add_argument("--out", default=str(Path(__file__).parent / "melts_gfn2"))
    parser.add_argument("--no-wall", action="store_true", help="MD on the model alone, without the wall between chains")
    args = parser.parse_args()
    unknown = [f for f in args.families if f not in DENSITY]
    if unknown:
        raise SystemExit(f"unknown families {unknown}; choose from {' '.join(DENSITY)}")
    bad = [r for r in args.runs if not re.fullmatch(r"[0-9.]+:[0-9.]+:[0-9]+", r)]
    if bad:
        raise SystemExit(f"runs must be DENSITY_FACTOR:TEMPERATURE_K:FRAMES (e.g. 1.0:300:15), got {bad}")
    if args.attempts < 1:
        raise SystemExit(f"--attempts must be at least 1, got {args.attempts}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    md_calculator = EquiformerCalculator(args.md_model, dtype="float32")
    for k, run in enumerate(args.runs):
        for short in args.families:
            run_file(short, run, k, args.seed, Path(args.out), md_calculator, args.attempts, not args.no_wall)


if __name__ == "__main__":
    main()
