"""``equipot learn CONFIG.yaml``: the active-learning loop (resumes when run again)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "learn",
        help="active learning: committee MD, labels where it disagrees, fine-tune",
        description="Run the active-learning loop of CONFIG.yaml (equipot.learn.LearnConfig); "
        "run it again after a crash and it continues where it stopped.",
    )
    p.add_argument("config", help="YAML with data, structures, reference, ... (docs/active_learning.md)")
    p.add_argument("--out", default=None, help="run folder (overrides the config's out)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equipot.learn import ActiveLearner, LearnConfig

    config = LearnConfig.from_yaml(args.config)
    if args.out:
        config.out = args.out
    state = ActiveLearner(config).run(progress=not args.no_progress)
    for r in state["rounds"]:
        test = f", test force MAE {r['test']['force_mae']:.1f} meV/Å" if r["test"] else ""
        print(
            f"round {r['round']}: {r['candidates']} frames explored, {r['labelled']} labelled, "
            f"{r['stable_replicas']}/{r['replicas']} replicas stable{test}"
        )
    print(f"stopped: {state.get('stopped_because')}; final models: {', '.join(state['final_models'] or [])}")
    return 0
