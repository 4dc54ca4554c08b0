"""Regenerate datasets/polymers_gfn2/<family>_<atoms>_<T>K.h5: GFN2-xTB Langevin MD of capped oligomers.

Thirty-five families in ten chemistry classes (``equipot.data.polymers.FAMILY_TABLE``). Each
chain is built from its repeat unit with RDKit (H-capped, ETKDG embedding, MMFF94 relaxation)
with the number of repeat units that brings it closest to the run's target size, then run with
Langevin MD (friction 0.01/fs, 0.5 fs steps) on GFN2-xTB (tblite, default settings). One file
per (family, chain, temperature); rerunning a command finishes an interrupted file from its
last frame.

Two run plans (``TARGET_ATOMS:TEMPERATURE_K:FRAMES:STRIDE:EQUILIBRATION_STEPS``):

- ``FIRST_TEN`` (pe pp peo pvc ps pmma nylon6 pet pan pva): about 30 atoms at 300 K and 55
  atoms at 450 K (200 frames, 10 fs apart), about 90 atoms at 600 K (100 frames, 5 fs apart);
- ``PLAN`` (every other family): the same ~30-atom chain size at 300, 450 and 600 K and a
  ~60-atom chain at 450 K, 100 frames 20 fs apart each, so that temperature is varied at a
  fixed chain size.

    OMP_NUM_THREADS=1 python datasets/make_polymers_gfn2.py                   # every family, run-major
    OMP_NUM_THREADS=1 python datasets/make_polymers_gfn2.py pes pps --runs 30:300:100:40:1000

Runs go run-major (every family's first run, then every family's second, ...) so that an
interrupted generation covers all classes before it covers any class twice.
"""

import argparse
import time
from pathlib import Path

from equipot.data.polymers import ALIASES, FAMILY_TABLE, build_oligomer, n_repeat_for_atoms
from equipot.data.reference import gfn2_calculator
from equipot.data.store import FrameStore
from equipot.dynamics.sampling import sample_md

FIRST_TEN = ["pe", "pp", "peo", "pvc", "ps", "pmma", "nylon6", "pet", "pan", "pva"]
FIRST_TEN_RUNS = ["30:300:200:20:1000", "55:450:200:20:1000", "90:600:100:10:500"]
PLAN = ["30:300:100:40:1000", "30:450:100:40:1000", "30:600:100:40:1000", "60:450:100:40:1000"]
FAMILIES = [short for short, *_ in FAMILY_TABLE]


def run_file(short: str, run: str, k: int, seed: int, out: Path) -> None:
    """One (family, run): sampled or finished into ``<short>_<atoms>_<T>K.h5``."""
    target, temperature, frames, stride, equilibration = (float(x) for x in run.split(":"))
    family = ALIASES[short]
    atoms = build_oligomer(family, n_repeat_for_atoms(family, int(target)), seed=seed + k)
    path = out / f"{short}_{len(atoms)}_{int(temperature)}K.h5"
    if path.is_file():
        with FrameStore(path) as done:
            if len(done) >= int(frames):
                return
    start = time.perf_counter()
    store = sample_md(
        atoms,
        gfn2_calculator(),
        path,
        temperature_K=temperature,
        n_frames=int(frames),
        stride=int(stride),
        equilibration_steps=int(equilibration),
        seed=seed + k,
        level_of_theory="GFN2-xTB",
        code="tblite",
        created_with=f"python datasets/make_polymers_gfn2.py {short} --runs {run} --seed {seed + k}",
        progress=False,
    )
    store.close()  # its generation_minutes add up every piece's (sample_md)
    minutes = (time.perf_counter() - start) / 60
    print(f"{path.name}: {int(frames)} frames, {minutes:.1f} min", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", default=FAMILIES)
    parser.add_argument("--runs", nargs="+", default=None, help="default: FIRST_TEN_RUNS or PLAN by family")
    parser.add_argument("--seed", type=int, default=0, help="run k of a family uses seed + k")
    parser.add_argument("--out", default=str(Path(__file__).parent / "polymers_gfn2"))
    args = parser.parse_args()
    unknown = [f for f in args.families if f not in ALIASES]
    if unknown:
        raise SystemExit(f"unknown families {unknown}; choose from {' '.join(FAMILIES)}")
    plans = {f: args.runs or (FIRST_TEN_RUNS if f in FIRST_TEN else PLAN) for f in args.families}
    for k in range(max(len(p) for p in plans.values())):
        for short, runs in plans.items():
            if k < len(runs):
                run_file(short, runs[k], k, args.seed, Path(args.out))


if __name__ == "__main__":
    main()
