"""Polymer stability study: chains of the training and held-out families under Langevin MD
with the energy+force and the force-only polymer models, against GFN2-xTB reference dynamics.

For each family, the chain of one shipped trajectory (``datasets/polymers_gfn2/<family>_<n>.h5``)
starts from that trajectory's first frame and runs at its temperature; every chain of both
models advances in one batched integrator. Reported per chain: bond stability (Fu et al.'s
0.5 Å criterion against the reference trajectory's mean bond lengths), radius of gyration and
end-to-end distance (mean ± std) against the GFN2-xTB trajectory, h(r) error. Long chains
(``--long``: built with RDKit, two to four times the longest training chain) have no
affordable reference and report stability, Rg and end-to-end only.

    python md/polymer_stability.py [--chain-atoms 55] [--duration-ps 1] [--long 200]

A class the model never saw, three replicas of each chain at 450 K, frames kept for
``md/audit_frames.py``, in resumable pieces of an hour:

    python md/polymer_stability.py --models polymers33-gfn2 --families pmma pma paa \
        --held-out pmma pma paa --temperature 450 --replicas 3 --duration-ps 20 --save-frames \
        --max-wall-minutes 60 [--resume] --out md/reports/polymers33_acrylates
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from equipot.data.store import FrameStore
from equipot.dynamics.analysis import chain_ends, distance_histogram_error, end_to_end, radius_of_gyration
from equipot.dynamics.monitors import study_monitors
from equipot.dynamics.replicas import ReplicaDynamics

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "polymers_gfn2"
TRAINING = ["pe", "pp", "peo", "pvc", "ps", "nylon6", "pet", "pan"]
HELD_OUT = ["pmma", "pva"]
RECORD_EVERY = 20  # steps between the frames kept for Rg, h(r) and the audit


def trajectory_file(family: str, target_atoms: int, temperature: float | None = None) -> Path:
    """The shipped trajectory of ``family`` (at ``temperature`` if given) whose chain length is
    closest to ``target_atoms``."""
    pattern = f"{family}_*_{temperature:.0f}K.h5" if temperature else f"{family}_*.h5"
    files = sorted(DATA.glob(pattern), key=lambda p: abs(int(p.stem.split("_")[1]) - target_atoms))
    if not files:
        raise FileNotFoundError(f"no polymer trajectory {pattern} in {DATA}")
    return files[0]


def shape_stats(frames: np.ndarray, ends: tuple[int, int]) -> dict[str, float]:
    rg, ee = radius_of_gyration(frames), end_to_end(frames, *ends)
    return {
        "rg_mean": float(rg.mean()),
        "rg_std": float(rg.std()),
        "ee_mean": float(ee.mean()),
        "ee_std": float(ee.std()),
    }


def systems_and_references(
    families, target_atoms: int, long_atoms: int | None, extra: list[str] = (), temperature: float | None = None
):
    """[(label, family, atoms, temperature, reference positions or None)]. ``extra``: chain
    files named ``<family>_...`` (no reference), each run at 300 K and at 600 K. With
    ``temperature``, each family's trajectory at that temperature."""
    from ase.io import read

    out = []
    for path in map(Path, extra):
        atoms = read(path)
        for temperature in (300.0, 600.0):
            out.append((f"{path.stem} ({len(atoms)} atoms)", path.stem.split("_")[0], atoms, temperature, None))
    for fam in families:
        path = trajectory_file(fam, target_atoms, temperature)
        with FrameStore(path) as store:
            ref = store.trajectory_positions()
            atoms = store[0].to_atoms()
            temperature = float(store.attrs["temperature_K"])
        out.append((path.stem, fam, atoms, temperature, ref))
        if long_atoms:
            from equipot.data.polymers import ALIASES, build_oligomer, n_repeat_for_atoms

            family = ALIASES.get(fam, fam)
            chain = build_oligomer(family, n_repeat_for_atoms(family, long_atoms), seed=0)
            out.append((f"{fam}_{len(chain)} (long)", fam, chain, temperature, None))
    return out


def with_replicas(entries: list, replicas: int) -> list:
    """Each entry ``replicas`` times (labels ``#1``, ``#2``, ...): one batched run gives every
    copy its own starting velocities and noise."""
    if replicas <= 1:
        return entries
    return [(f"{e[0]} #{r + 1}", *e[1:]) for e in entries for r in range(replicas)]


def save_frames(group: list, res, args, out: Path) -> None:
    """OUT/frames_<chain>.xyz.gz per chain, every recorded frame of each of its replicas (tagged
    ``replica`` and ``time_fs``), the input of ``md/audit_frames.py``."""
    from ase.io import write

    from equipot.dynamics.stability import frames_as_atoms

    frames_of, starts = {}, {}
    for k, (label, _, atoms, _, _) in enumerate(group):
        chain = label.split(" #")[0]
        starts.setdefault(chain, atoms)
        frames_of.setdefault(chain, []).append(res.positions[k])
    for chain, images in frames_as_atoms(frames_of, starts, RECORD_EVERY * args.timestep, args.seed).items():
        write(out / f"frames_{chain}.xyz.gz", images, format="extxyz")


def run_model(model: str, entries, args) -> dict:
    """All chains of one model at their temperatures: one batched run per temperature."""
    results = {}
    for temperature in sorted({e[3] for e in entries}):
        group = [e for e in entries if e[3] == temperature]
        monitors = [study_monitors(atoms, ref) for _, _, atoms, _, ref in group]
        dyn = ReplicaDynamics(
            model,
            [e[2] for e in group],
            temperature_K=temperature,
            timestep_fs=args.timestep,
            seed=args.seed,
            dtype=args.dtype,
            device=args.device,
            monitors=monitors,
            check_every=20,
            compile=args.compile,
        )
        restart = Path(args.out) / f"restart_{Path(model).stem}_{temperature:.0f}K.npz"
        res = dyn.run_resumable(
            restart,
            resume=args.resume,
            restart_every=args.restart_every,
            duration_ps=args.duration_ps,
            record_every=RECORD_EVERY,
            progress=not args.quiet,
            max_wall_s=args.max_wall_minutes * 60 if args.max_wall_minutes else None,
        )
        for k, (label, fam, atoms, _, ref) in enumerate(group):
            ends = chain_ends(atoms)
            frames = res.positions[k]
            row = {
                "family": fam,
                "atoms": len(atoms),
                "temperature_K": temperature,
                "held_out": fam in args.held_out,
                "stable_ps": res.stable_times_ps[k],
                "run_ps": res.time_ps,
                "failure": res.failures[k].reason if res.failures[k] else None,
                "replica_steps_per_s": res.replica_steps_per_s,
            }
            if len(frames):
                row.update({f"model_{key}": v for key, v in shape_stats(frames, ends).items()})
            if ref is not None:
                row.update({f"ref_{key}": v for key, v in shape_stats(ref, ends).items()})
                if len(frames):
                    row["hr_mae"] = distance_histogram_error(frames, ref)
            results[f"{label} {temperature:.0f} K" if ref is None else label] = row
        if args.save_frames:
            save_frames(group, res, args, Path(args.out))
    return results


def write_report(all_results: dict, args, out: Path) -> None:
    lines = [
        "# Polymer stability study",
        "",
        f"Command: `python md/polymer_stability.py {' '.join(args.argv)}`",
        "",
        f"Langevin (BAOAB, friction 0.01/fs, {args.timestep} fs, {args.dtype}{' (compiled kernel)' if args.compile else ''}, "
        f"{args.device}) for up to "
        f"{args.duration_ps} ps per chain (run length per row below), each at the temperature of its GFN2-xTB reference trajectory, starting from that trajectory's "
        "first frame. Held-out families (not in training): " + ", ".join(args.held_out) + ". Rg and end-to-end "
        "distance (backbone ends) as mean ± std over frames every 10 fs; reference = the shipped GFN2-xTB "
        "trajectory of the same chain.",
        "",
    ]
    for model, results in all_results.items():
        lines += [
            f"## `{model}`",
            "",
            "| chain | held out | T (K) | run (ps) | stable (ps) | Rg model (Å) | Rg GFN2 (Å) | end-to-end model (Å) "
            "| end-to-end GFN2 (Å) | h(r) MAE |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label, r in results.items():

            def pm(prefix, key, r=r):
                return (
                    f"{r[f'{prefix}_{key}_mean']:.2f} ± {r[f'{prefix}_{key}_std']:.2f}"
                    if f"{prefix}_{key}_mean" in r
                    else "-"
                )

            lines.append(
                f"| {label} | {'yes' if r['held_out'] else ''} | {r['temperature_K']:.0f} | {r['run_ps']:.2f} | {r['stable_ps']:.2f}"
                f"{' (' + r['failure'] + ')' if r['failure'] else ''} | {pm('model', 'rg')} | {pm('ref', 'rg')} | "
                f"{pm('model', 'ee')} | {pm('ref', 'ee')} | {r.get('hr_mae', float('nan')):.3f} |"
            )
        lines.append("")
    (out / "report.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["polymers-gfn2", "polymers-gfn2-fo"])
    parser.add_argument("--families", nargs="+", default=TRAINING + HELD_OUT)
    parser.add_argument("--held-out", nargs="*", default=HELD_OUT, help="families the models did not train on")
    parser.add_argument("--chain-atoms", type=int, default=55, help="pick the shipped chain closest to this size")
    parser.add_argument("--temperature", type=float, default=None, help="pick each family's trajectory at this T (K)")
    parser.add_argument("--replicas", type=int, default=1, help="independent replicas of each chain")
    parser.add_argument(
        "--save-frames", action="store_true", help="write OUT/frames_<chain>.xyz.gz for md/audit_frames.py"
    )
    parser.add_argument("--long", type=int, default=None, help="also run chains of about this many atoms (RDKit)")
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        help="more chains or boxes (files named <family>_*.xyz), run at 300 K and 600 K without reference",
    )
    parser.add_argument("--duration-ps", type=float, default=1.0)
    parser.add_argument("--max-wall-minutes", type=float, default=None, help="wall-time cap of each batched run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--timestep", type=float, default=0.5)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run each model through its compiled kernel (equipot compile; made first if missing)",
    )
    parser.add_argument(
        "--restart-every", type=int, default=2000, help="steps between restart states (OUT/restart_*.npz)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT's restart states (same arguments, --duration-ps may be longer)",
    )
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "md" / "reports" / "polymers"))
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = systems_and_references(args.families, args.chain_atoms, args.long, args.extra, args.temperature)
    entries = with_replicas(entries, args.replicas)
    all_results = {m: run_model(m, entries, args) for m in args.models}
    write_report(all_results, args, out)
    (out / "results.json").write_text(
        json.dumps({"settings": {k: v for k, v in vars(args).items()}, "results": all_results}, indent=1)
    )
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
