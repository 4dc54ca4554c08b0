"""Per-round report of the active-learning loop: ``report.md`` and ``report.png`` in the round's
folder (what was found, what was labelled, how the committee does on held-out frames, how its
MD fared), and the loop's progress so far."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def round_report(
    folder: Path, row: dict, uncertainty: np.ndarray, stability: list[dict], config, rounds: list[dict]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    labels_so_far = sum(r["labelled"] for r in rounds)
    budget = (
        f"Labelled this round: {row['labelled']} (all rounds: {labels_so_far} of a budget of {config.label_budget})."
    )
    lines = [f"# Active learning, round {row['round']}", ""]
    if row["replicas"]:
        lines += [
            f"Exploration: {row['replicas']} replicas ({len(config.structures)} structures x "
            f"{len(config.temperatures)} temperatures x {config.replicas}), {config.duration_ps} ps each, "
            f"a frame every {config.sample_every} steps: {row['candidates']} frames asked.",
            "",
            f"Committee force disagreement (largest per atom, eV/Å): median "
            f"{_fmt(row['uncertainty_median'])}; {row['in_window']} frames in [{row['lower']:.3g}, "
            f"{config.upper}), {row['above_upper']} above. {budget}",
            "",
            f"MD stability: {row['stable_replicas']}/{row['replicas']} replicas ran to the end.",
            "",
        ]
    else:  # the random-label baseline: no MD, no committee questions
        lines += [
            f"No exploration: frames drawn at random from {row['candidates']} frames of reference MD. {budget}",
            "",
        ]
    failed = [s for s in stability if s["failure"]]
    lines += [f"- {s['source']}: stopped at {s['stable_ps']:.3f} ps ({s['failure']})" for s in failed]
    if failed:
        lines.append("")
    if row["test"]:
        lines += [
            f"Held-out frames ({config.test_data}), mean over the committee: force MAE "
            f"{row['test']['force_mae']:.1f} meV/Å, energy MAE {row['test']['energy_mae']:.1f} meV.",
            "",
        ]
    lines += [
        "| round | labelled | replicas stable | frames in window | test force MAE (meV/Å) |",
        "|---|---|---|---|---|",
    ]
    for r in rounds:
        test = f"{r['test']['force_mae']:.1f}" if r["test"] else "-"
        stable = f"{r['stable_replicas']}/{r['replicas']}" if r["replicas"] else "-"
        lines.append(
            f"| {r['round']} | {r['labelled']} | {stable} | {r['in_window'] if r['replicas'] else '-'} | {test} |"
        )
    lines += ["", "![round](report.png)", ""]
    (folder / "report.md").write_text("\n".join(lines))
    _plot(folder / "report.png", uncertainty, row["lower"], config, rounds)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _plot(path: Path, uncertainty: np.ndarray, lower: float, config, rounds: list[dict]) -> None:
    from equipot.plotting import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    u = uncertainty[np.isfinite(uncertainty) & (uncertainty > 0)]
    if len(u):
        bins = np.logspace(np.log10(u.min()), np.log10(max(u.max(), u.min() * 1.01)), 40)
        axes[0].hist(u, bins=bins, color="C0")
        axes[0].set_xscale("log")
    for x, name in ((lower, "lower"), (config.upper, "upper")):
        axes[0].axvline(x, color="k", ls="--", lw=1)
        axes[0].text(x, axes[0].get_ylim()[1] * 0.9, f" {name}", fontsize=8)
    axes[0].set_xlabel("committee force disagreement (eV/Å)")
    axes[0].set_ylabel("explored frames")
    labels = np.cumsum([0] + [r["labelled"] for r in rounds])[:-1]
    tested = [(n, r["test"]["force_mae"]) for n, r in zip(labels, rounds) if r["test"]]
    if tested:
        axes[1].plot(*zip(*tested), "o-")
        axes[1].set_ylabel("held-out force MAE (meV/Å)")
    else:
        axes[1].plot(labels, [r["stable_replicas"] / max(r["replicas"], 1) for r in rounds], "o-")
        axes[1].set_ylabel("fraction of replicas stable")
    axes[1].set_xlabel("labels added before the round")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def committee_test_error(models: list[str], test_data) -> dict[str, float] | None:
    """Force and energy MAE on ``test_data`` (a store path, or None) of each member, averaged (meV/Å, meV), and the
    mean signed energy error ("energy_bias", meV, predicted minus reference): how far labels
    far from the held-out frames have shifted every energy, which the MAE alone does not tell."""
    if not test_data:
        return None
    from equipot.checkpoint import load_model
    from equipot.train.metrics import evaluate_store

    rows = [evaluate_store(load_model(m, dtype="float64"), test_data) for m in models]
    bias = [1000 * float(np.mean(r["arrays"][0] - r["arrays"][1])) for r in rows]
    return {
        "force_mae": float(np.mean([r["force_mae"] for r in rows])),
        "energy_mae": float(np.mean([r["energy_mae"] for r in rows])),
        "energy_bias": float(np.mean(bias)),
    }
