"""A trained polymer model on the families it saw against those it never saw.

Seen: the test frames of every file the checkpoint trained on (its own split, re-drawn from its
training config), less any frame a model it was fine-tuned from trained on. Only isolated-chain
stores (``<family>_<atoms>_<T>K.h5``) count; the periodic melts a model trained on are judged by
``bench/melt_vs_chain.py``. Unseen: every frame of the files given with ``--unseen`` (a class held out of
training). Prints force and energy MAE per family and pooled, and the unseen/seen ratios; the
energy MAE also with each file's mean error removed (``offset_free_energy_mae``).

    python bench/seen_unseen.py polymers33-gfn2 --unseen datasets/polymers_gfn2/{pmma,pma,paa}_*.h5
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._held_out import add_model_options, load_with_lineage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_options(parser)
    parser.add_argument("--unseen", nargs="+", required=True, help="frame stores of families not trained on")
    args = parser.parse_args()
    from equipot.data.polymers import family_of_file
    from equipot.train.metrics import evaluate_held_out, pooled_error_metrics

    model, lineage = load_with_lineage(args)
    trained = [Path(p) for p in (model.metadata or {}).get("data") or []]
    if not trained:
        sys.exit(f"{args.model} records no training files")
    overlap = {p.name for p in trained} & {Path(p).name for p in args.unseen}
    if overlap:
        sys.exit(f"the model trained on {sorted(overlap)}: they cannot be unseen")
    groups: dict[str, dict[str, list]] = {"seen": {}, "unseen": {}}
    chains = [p for p in trained if p.name.count("_") == 2]  # melts: <family>_<atoms>_<T>K_<density>gcc.h5
    for kind, files in (("seen", chains), ("unseen", [Path(p) for p in args.unseen])):
        for path in files:
            path = path if path.is_absolute() else ROOT / path
            result = evaluate_held_out(model, str(path), lineage if kind == "seen" else [], args.batch_size)
            if result is not None:
                groups[kind].setdefault(family_of_file(path)[0], []).append(result["arrays"])
    rows, out = [], {}
    for kind, families in groups.items():
        for family, parts in sorted(families.items()):
            m = pooled_error_metrics(parts)
            rows.append(
                f"| {kind} | {family} | {sum(len(p[0]) for p in parts)} | {m['force_mae']:.1f} | "
                f"{m['energy_per_atom_mae']:.2f} | {m['energy_per_atom_offset_free_mae']:.2f} |"
            )
        out[kind] = pooled_error_metrics([p for parts in families.values() for p in parts])
    print(f"{args.model} ({args.dtype}): test frames of the files it trained on against unseen files\n")
    print("| set | family | frames | force MAE (meV/Å) | energy MAE (meV/atom) | offset-free |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    seen, unseen = out["seen"], out["unseen"]
    print(
        f"\npooled: force MAE seen {seen['force_mae']:.1f}, unseen {unseen['force_mae']:.1f} meV/Å "
        f"({unseen['force_mae'] / seen['force_mae']:.2f}x); energy seen {seen['energy_per_atom_mae']:.2f}, "
        f"unseen {unseen['energy_per_atom_mae']:.2f} meV/atom "
        f"({unseen['energy_per_atom_mae'] / seen['energy_per_atom_mae']:.2f}x); offset-free energy seen "
        f"{seen['energy_per_atom_offset_free_mae']:.2f}, unseen {unseen['energy_per_atom_offset_free_mae']:.2f} meV/atom "
        f"({unseen['energy_per_atom_offset_free_mae'] / seen['energy_per_atom_offset_free_mae']:.2f}x)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
