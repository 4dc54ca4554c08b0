"""MD17 stability study (Fu et al., TMLR 2023, protocol): NVT replicas at 500 K with the bond
criterion, h(r) against the GFN2-xTB reference trajectory, and NVE energy drift at 300 K.

All molecules and replicas advance together in one batched integrator (one model call per
step). Writes ``OUT/report.md`` (tables), ``OUT/results.json`` and ``OUT/*.png``.

    python md/md17_stability.py [--model md17-gfn2] [--replicas 4] [--duration-ps 20] [--nve-duration-ps 5]

Fu et al. ran 300 ps per molecule (Nosé-Hoover, 500 K, 0.5 fs) with models trained on
9,500 DFT frames; the defaults here are what a 2-core CPU affords (see the report's header
for what was actually run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from equipot.checkpoint import load_model
from equipot.data.readers import read_structure
from equipot.data.store import FrameStore
from equipot.dynamics.stability import (
    RECORD_EVERY,
    frames_as_atoms,
    nve_drift,
    nvt_stability,
    stability_plots,
)

ROOT = Path(__file__).resolve().parents[1]
MOLECULES = ["aspirin", "benzene", "ethanol", "malonaldehyde", "naphthalene", "salicylic", "toluene", "uracil"]


def reference_positions(molecule: str) -> np.ndarray:
    """(T, n, 3) positions of the shipped GFN2-xTB 500 K trajectory of ``molecule``."""
    with FrameStore(ROOT / "datasets" / "md17_gfn2" / f"{molecule}.h5") as store:
        return store.trajectory_positions()


def run_nvt(model, starts: dict, refs: dict, args) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """``nvt_stability`` with the script's settings; empty when ``--duration-ps 0``."""
    if args.duration_ps <= 0:
        return {}, {}
    return nvt_stability(
        model,
        starts,
        refs,
        replicas=args.replicas,
        duration_ps=args.duration_ps,
        restart_path=Path(args.out) / "restart_nvt.npz",
        temperature_K=args.temperature,
        timestep_fs=args.timestep,
        friction_per_fs=args.friction,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        compile=args.compile,
        resume=args.resume,
        restart_every=args.restart_every,
        progress=not args.quiet,
        max_wall_s=args.max_wall_minutes * 60 if args.max_wall_minutes else None,
    )


def run_nve(model, starts: dict, args) -> dict:
    """``nve_drift`` with the script's settings; empty when ``--nve-duration-ps 0``."""
    if args.nve_duration_ps <= 0:
        return {}
    return nve_drift(
        model,
        starts,
        duration_ps=args.nve_duration_ps,
        restart_path=Path(args.out) / "restart_nve.npz",
        temperature_K=args.nve_temperature,
        timestep_fs=args.timestep,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        restart_every=args.restart_every,
        progress=not args.quiet,
        max_wall_s=args.nve_max_wall_minutes * 60 if args.nve_max_wall_minutes else None,
    )


def write_report(nvt: dict, nve: dict, molecules, args, model_info: dict, out: Path) -> None:
    lines = [
        "# MD17 stability study",
        "",
        f"Command: `python md/md17_stability.py {' '.join(args.argv)}`",
        "",
        f"Model `{args.model}` ({model_info['params']:,} parameters, {model_info['objective']}).",
        "",
    ]
    if nvt:
        lines += [
            f"NVT: {args.replicas} replicas per molecule, Langevin (BAOAB) {args.temperature:.0f} K, friction "
            f"{args.friction}/fs, {args.timestep} fs, {nvt['run_ps']:.2f} ps per replica, {args.dtype}"
            f"{' (compiled kernel)' if args.compile else ''}, all replicas batched "
            f"({nvt['replica_steps_per_s']:.1f} replica-steps/s, {nvt['wall_s'] / 60:.1f} min on {args.device}). "
            "Stability: Fu et al.'s criterion (a bond of the starting structure, ASE natural cutoffs, deviating more "
            "than 0.5 Å from its mean length over the GFN2-xTB reference trajectory) plus temperature blow-up, "
            "non-finite or huge forces, atoms closer than 0.5 Å and (`contact`) two heavy atoms more than two bonds "
            "apart closer than the reference trajectory ever brings them minus 0.25 Å. "
            "h(r): all interatomic distances, 500 bins on (0, 10] Å, error = mean |h - h_ref| x 10 against the "
            "shipped GFN2-xTB 500 K trajectory (2,000 frames), over the replicas' frames every 10 fs.",
            "",
        ]
    else:
        lines += ["NVT: not run (`--duration-ps 0`).", ""]
    lines += [
        (
            f"NVE: one replica per molecule from a {args.nve_temperature:.0f} K Maxwell-Boltzmann start, velocity "
            f"Verlet {args.timestep} fs, float64, {nve['run_ps']:.2f} ps; drift = least-squares slope of E_tot/N."
            if nve
            else "NVE: not run (`--nve-duration-ps 0`)."
        ),
        "",
        "| molecule | stable replicas | mean stable time (ps) | shortest (ps) | h(r) MAE | NVE drift (meV/atom/ps) "
        "| NVE fluctuation (meV/atom) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in molecules:
        r = nvt.get("molecules", {}).get(m)
        stability = (
            f"{args.replicas - r['failed']}/{args.replicas} | {np.mean(r['stable_ps']):.2f} | "
            f"{np.min(r['stable_ps']):.2f} | {r['hr_mae']:.3f}"
            if r
            else "not run | | |"
        )
        d = nve.get(m)
        drift = f"{d['slope_meV_per_atom_per_ps']:.4f} | {d['fluctuation_meV_per_atom']:.4f}" if d else "not run |"
        lines.append(f"| {m} | {stability} | {drift} |")
    if nvt:
        reasons = []
        for m in molecules:
            r = nvt["molecules"][m]
            stopped = [(k, t) for k, t in zip(r["monitors"], r["stable_ps"]) if k]
            reasons += [f"- {m} ({k} monitor, {t:.2f} ps): {why}" for (k, t), why in zip(stopped, r["reasons"])]
        lines += ["", "Failures:" if reasons else "No replica failed.", *reasons]
    lines += [
        "",
        "Beside Fu et al.: they simulate 300 ps per run with models trained on DFT (MD17) frames and use the "
        "same 0.5 Å bond criterion and h(r) error. The runs here are shorter (see above) and on GFN2-xTB data "
        "(the public MD17 files cannot be downloaded here), so a replica that is stable here is stable for the "
        "time shown, not for 300 ps. `python md/md17_summary.py` pools the replicas of all reports and sets "
        "out their protocol beside ours.",
        "",
        *(["![h(r)](hr.png)", ""] if nvt else []),
        *(["![NVE energy](nve_energy.png)", ""] if nve else []),
    ]
    (out / "report.md").write_text("\n".join(lines))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="md17-gfn2")
    parser.add_argument("--molecules", nargs="+", default=MOLECULES)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--duration-ps", type=float, default=20.0, help="NVT ps per replica (0: NVE only)")
    parser.add_argument("--temperature", type=float, default=500.0)
    parser.add_argument("--timestep", type=float, default=0.5)
    parser.add_argument("--friction", type=float, default=0.01)
    parser.add_argument("--nve-duration-ps", type=float, default=5.0, help="NVE ps (0: NVT replicas only)")
    parser.add_argument("--nve-temperature", type=float, default=300.0)
    parser.add_argument(
        "--max-wall-minutes",
        type=float,
        default=None,
        help="stop the NVT replicas after this much wall time (the report says how far they got)",
    )
    parser.add_argument("--nve-max-wall-minutes", type=float, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run the NVT model through its compiled kernel (equipot compile; made first if missing, "
        "minutes); the float64 NVE run stays eager",
    )
    parser.add_argument(
        "--save-frames",
        action="store_true",
        help="write OUT/frames_MOLECULE.xyz, the NVT frames behind h(r) (every 10 fs, each replica)",
    )
    parser.add_argument(
        "--restart-every",
        type=int,
        default=2000,
        help="steps between restart states (OUT/restart_nvt.npz, OUT/restart_nve.npz)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT's restart states (same arguments, --duration-ps may be longer): "
        "a long study run in pieces",
    )
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "md" / "reports" / "md17"))
    return parser


def main(argv: list[str] | None = None) -> None:
    import sys

    parser = _parser()
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.duration_ps <= 0 and args.nve_duration_ps <= 0:
        parser.error("--duration-ps and --nve-duration-ps are both 0: nothing to run")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.model)
    info = {
        "params": sum(p.numel() for p in model.parameters()),
        "objective": getattr(model, "metadata", {}).get("objective", "?"),
    }
    t0 = time.perf_counter()
    starts = {m: read_structure(m) for m in args.molecules}
    # the GFN2-xTB trajectories serve the NVT half only (bond references, h(r))
    refs = {m: reference_positions(m) for m in args.molecules} if args.duration_ps > 0 else {}
    nvt, frames_of = run_nvt(args.model, starts, refs, args)
    if args.save_frames:
        from ase.io import write

        for m, images in frames_as_atoms(frames_of, starts, RECORD_EVERY * args.timestep, args.seed).items():
            write(out / f"frames_{m}.xyz", images, format="extxyz")
    nve = run_nve(args.model, starts, args)
    stability_plots(nvt, frames_of, nve, starts, refs, out)
    write_report(nvt, nve, args.molecules, args, info, out)
    payload = {
        "settings": {k: v for k, v in vars(args).items()},
        "model": info,
        "nvt": nvt,
        "nve": {
            m: ({k: v for k, v in d.items() if k not in ("time_ps", "etot_eV")} if isinstance(d, dict) else d)
            for m, d in nve.items()
        },
        "wall_s": time.perf_counter() - t0,
    }
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=float))
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
