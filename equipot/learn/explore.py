"""The exploration stage of active learning: batched Langevin replicas with the committee's
first model, whose frames become the candidates for labelling."""

from __future__ import annotations

from pathlib import Path

from equipot.learn.select import Candidate


def candidate_atoms(candidate: Candidate):
    """An ASE ``Atoms`` of a candidate frame (molecule: no cell)."""
    from ase import Atoms

    return Atoms(numbers=candidate.numbers, positions=candidate.positions)


def replica_frames(config, k: int, model: str, folder: Path, progress: bool) -> tuple[list[Candidate], list[dict]]:
    """Round ``k``'s exploration: batched replicas of every structure at each temperature
    (restartable, their state in ``folder``), every ``sample_every``-th frame of every replica
    as a candidate (uncertainty still NaN), and the stability of each replica."""
    from equipot.data.readers import read_structure
    from equipot.dynamics.monitors import default_monitors
    from equipot.dynamics.replicas import ReplicaDynamics

    c = config
    starts = [read_structure(s) for s in c.structures]
    frames: list[Candidate] = []
    stability: list[dict] = []
    for t_index, temperature in enumerate(c.temperatures):
        systems = [(s, r, atoms) for s, atoms in enumerate(starts) for r in range(c.replicas)]
        dyn = ReplicaDynamics(
            model,
            [a for _, _, a in systems],
            temperature_K=temperature,
            timestep_fs=c.timestep_fs,
            friction_per_fs=c.friction_per_fs,
            seed=c.seed * 1000 + k * 10 + t_index,
            dtype=c.dtype,
            monitors=default_monitors(temperature),
            check_every=c.sample_every,
        )
        result = dyn.run_resumable(
            folder / f"md_{temperature:g}K.npz",
            resume=True,
            restart_every=max(c.sample_every, 1000),
            duration_ps=c.duration_ps,
            record_every=c.sample_every,
            progress=progress,
        )
        dt_ps = c.timestep_fs * c.sample_every / 1000.0
        for i, (s, r, atoms) in enumerate(systems):
            source = f"{Path(c.structures[s]).stem}_{temperature:g}K_r{r}"
            failure = result.failures[i]
            stability.append(
                {
                    "source": source,
                    "stable_ps": result.stable_times_ps[i],
                    "run_ps": result.time_ps,
                    "failure": failure.reason if failure else None,
                }
            )
            for j, pos in enumerate(result.positions[i]):
                frames.append(Candidate(atoms.numbers.copy(), pos, float("nan"), source, (j + 1) * dt_ps))
    return frames, stability
