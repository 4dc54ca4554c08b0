"""A polymer model on periodic melts against isolated chains of the same families.

Melt frames: every frame of the given melt stores that neither the model nor a model it was
fine-tuned from trained or validated on. Chain frames: the same for every isolated-chain store
of each melt's family in ``--chains`` (all frames of a family never trained on). Prints force,
energy and stress MAE per family and the melt/chain force ratio (the goal of the melt work is
at most 1.3x).

    python bench/melt_vs_chain.py polymers33-melts-gfn2 datasets/melts_density_gfn2/*.h5 datasets/melts_gfn2/*.h5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._held_out import add_model_options, load_with_lineage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_options(parser, batch_size=8)
    parser.add_argument("melts", nargs="+", help="periodic melt stores <family>_<atoms>_<T>K_<density>gcc.h5")
    parser.add_argument("--chains", default=str(ROOT / "datasets" / "polymers_gfn2"), help="folder of chain stores")
    args = parser.parse_args()
    from equipot.train.metrics import evaluate_held_out, pooled_error_metrics, stress_metrics

    model, lineage = load_with_lineage(args)

    def held_out(path) -> dict | None:
        return evaluate_held_out(model, str(path), lineage, args.batch_size)

    rows, out = [], {}
    families = sorted({Path(p).name.split("_")[0] for p in args.melts})
    for family in families:
        melt = [r for p in args.melts if Path(p).name.split("_")[0] == family if (r := held_out(Path(p)))]
        chain = [r for p in sorted(Path(args.chains).glob(f"{family}_*K.h5")) if (r := held_out(p))]
        if not melt or not chain:
            print(f"{family}: {'no held-out melt frames' if not melt else 'no chain stores'}; skipped")
            continue
        m = pooled_error_metrics([r["arrays"] for r in melt])
        c = pooled_error_metrics([r["arrays"] for r in chain])
        s = stress_metrics(*(np.concatenate(a) for a in zip(*(r["stress_arrays"] for r in melt))))
        n_melt = sum(len(r["arrays"][0]) for r in melt)
        n_chain = sum(len(r["arrays"][0]) for r in chain)
        out[family] = {"melt": m | s, "chain": c, "melt_frames": n_melt, "chain_frames": n_chain}
        rows.append(
            f"| {family} | {n_melt} | {n_chain} | {m['force_mae']:.1f} | {c['force_mae']:.1f} | "
            f"{m['force_mae'] / c['force_mae']:.2f}x | {m['energy_per_atom_mae']:.2f} | "
            f"{c['energy_per_atom_mae']:.2f} | {s['stress_mae']:.3f} | {s['pressure_mae']:.3f} |"
        )
    print(f"{args.model} ({args.dtype}): held-out melt frames against held-out chain frames of the same families\n")
    print(
        "| family | melt frames | chain frames | force MAE melt (meV/Å) | chain | melt/chain | "
        "energy MAE melt (meV/atom) | chain | stress MAE melt (GPa) | pressure MAE melt (GPa) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
