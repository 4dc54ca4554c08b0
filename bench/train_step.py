"""Where a training step's time goes: batching, forward with forces, loss backward, optimizer.

Trains the given architecture from random weights on the first ``--frames`` GFN2-xTB aspirin
frames with the default recipe's loss (per-atom energy weight 50, forces 80) and the trainer's
optimizer (fused AdamW), and prints the median milliseconds of each phase over ``--steps``
steps. The loss backward differentiates through the force computation (a double backward), so
it is where a cheaper model pays off most in training.

    python bench/train_step.py [--irreps 64x0e+16x1o+16x2e] [--batch-size 4] [--threads 2]

With ``--compile`` it times instead the eager step (forward with forces and loss backward)
against the compiled training step (``equipot.train.compiled_step``, made first if missing,
and that time printed), alternating on the same batches.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from equipot import EquiformerConfig, Potential
from equipot.data.graph import collate
from equipot.train.data import GraphDataset
from equipot.train.losses import loss_terms
from equipot.train.optim import decay_groups

DATA = Path(__file__).resolve().parents[1] / "datasets" / "md17_gfn2" / "aspirin.h5"
PHASES = ("batch", "forward + forces", "loss backward", "optimizer")


def training_setup(
    preset: str, frames: int, dtype: torch.dtype = torch.float32, irreps: str | None = None
) -> tuple[Potential, list]:
    """A ``preset`` model from random weights (seed 0; ``irreps`` replaces its node irreps) and
    the graphs of the first ``frames`` aspirin frames, neighbour lists built before any timing."""
    torch.manual_seed(0)
    config = EquiformerConfig.preset(
        preset, species=["H", "C", "N", "O"], **({"irreps_node": irreps} if irreps else {})
    )
    model = Potential(config).to(dtype)
    dataset = GraphDataset(DATA, model.cutoff, list(range(frames)))
    return model, [dataset[k] for k in range(frames)]


def train_step(
    model: Potential,
    graphs: list,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    batch_size: int,
    dtype: torch.dtype,
    energy_weight: float,
) -> tuple[float, ...]:
    """One step on ``batch_size`` random graphs with loss energy_weight * E + 80 * F (per-atom
    energy and force MSE); returns the seconds of each of ``PHASES``."""
    t0 = time.perf_counter()
    batch = collate([graphs[k] for k in rng.choice(len(graphs), batch_size, replace=False)]).to("cpu", dtype)
    t1 = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    pred = model(batch, compute_forces=True, create_graph=True)
    terms = loss_terms(pred, batch.energy, batch.forces, batch.atoms_per_graph())
    loss = energy_weight * terms["energy"] + 80 * terms["force"]
    t2 = time.perf_counter()
    loss.backward()
    t3 = time.perf_counter()
    optimizer.step()
    return t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3


def phase_times(args: argparse.Namespace) -> dict[str, list[float]]:
    model, graphs = training_setup(args.preset, args.frames, irreps=args.irreps)
    optimizer = torch.optim.AdamW(decay_groups(model, 1e-6), lr=1e-3, fused=True)
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {name: [] for name in PHASES}
    for step in range(args.warmup + args.steps):
        seconds = train_step(model, graphs, optimizer, rng, args.batch_size, torch.float32, energy_weight=50)
        if step >= args.warmup:
            for name, value in zip(PHASES, seconds):
                times[name].append(value)
    return times


def compiled_against_eager(args: argparse.Namespace) -> None:
    """Eager forward + loss backward against the compiled step, alternating, same batches."""
    from equipot.train.compiled_step import CompiledStep, step_artifact_path
    from equipot.train.config import TrainConfig
    from equipot.train.losses import energy_force_loss

    model, graphs = training_setup(args.preset, args.frames, irreps=args.irreps)
    config = TrainConfig(data="-", batch_size=args.batch_size, energy_weight=50.0, force_weight=80.0)
    rng = np.random.default_rng(0)

    def batch():
        return collate([graphs[k] for k in rng.choice(len(graphs), args.batch_size, replace=False)]).to(
            "cpu", torch.float32
        )

    existed = step_artifact_path(model, config).is_file()
    t0 = time.perf_counter()
    step = CompiledStep(model, config, batch(), progress=False)
    made_s = time.perf_counter() - t0
    eager_ms, compiled_ms = [], []
    for k in range(args.warmup + args.steps):
        b = batch()
        t0 = time.perf_counter()
        pred = model(b, create_graph=True)
        loss, _ = energy_force_loss(pred, b.energy, b.forces, b.atoms_per_graph(), energy_weight=50.0)
        loss.backward()
        t1 = time.perf_counter()
        step(model, b)
        t2 = time.perf_counter()
        if k >= args.warmup:
            eager_ms.append(1000 * (t1 - t0))
            compiled_ms.append(1000 * (t2 - t1))
    print(
        f"{args.preset} {args.irreps or ''}, batch {args.batch_size}, {args.threads} thread(s), medians of {args.steps} steps"
    )
    print(f"eager step (forward with forces + loss backward): {statistics.median(eager_ms):.1f} ms")
    print(f"compiled step: {statistics.median(compiled_ms):.1f} ms")
    ratio = statistics.median(c / e for c, e in zip(compiled_ms, eager_ms))
    print(f"compiled / eager: {ratio:.2f} (median of per-step ratios)")
    print(f"compiled step {'loaded' if existed else 'made and loaded'} in {made_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--irreps", default="64x0e+16x1o+16x2e", help="irreps_node ('' keeps the preset's)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="time the compiled step against the eager one")
    args = parser.parse_args()
    if args.frames < args.batch_size:
        raise ValueError(f"--frames {args.frames} is fewer than --batch-size {args.batch_size}")
    torch.set_num_threads(args.threads)
    if args.compile:
        compiled_against_eager(args)
        return
    times = phase_times(args)
    total = statistics.median([sum(step) for step in zip(*times.values())])
    print(
        f"{args.preset} {args.irreps or ''}, batch {args.batch_size}, {args.threads} thread(s), "
        f"medians of {args.steps} steps"
    )
    print("| phase | ms | share of a step |\n|---|---|---|")
    for name, values in times.items():
        ms = 1000 * statistics.median(values)
        print(f"| {name} | {ms:.1f} | {ms / (1000 * total):.0%} |")
    print(f"| step | {1000 * total:.1f} | |")


if __name__ == "__main__":
    main()
