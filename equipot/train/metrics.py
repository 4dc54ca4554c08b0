"""Error metrics in the units people quote: meV, meV/atom, meV/Å."""

from __future__ import annotations

import numpy as np
import torch


def error_metrics(energy_pred, energy_ref, forces_pred, forces_ref, n_atoms) -> dict[str, float]:
    """Energy MAE/RMSE per structure (meV) and per atom (meV/atom); force MAE/RMSE over
    Cartesian components (meV/Å). Inputs in eV and eV/Å; arrays (B,), (N, 3), n_atoms (B,)."""
    de = (np.asarray(energy_pred, float) - np.asarray(energy_ref, float)) * 1000
    de_atom = de / np.asarray(n_atoms, float)
    df = (np.asarray(forces_pred, float) - np.asarray(forces_ref, float)).reshape(-1) * 1000
    return {
        "energy_mae": float(np.abs(de).mean()),
        "energy_rmse": float(np.sqrt((de**2).mean())),
        "energy_per_atom_mae": float(np.abs(de_atom).mean()),
        "energy_per_atom_rmse": float(np.sqrt((de_atom**2).mean())),
        "force_mae": float(np.abs(df).mean()),
        "force_rmse": float(np.sqrt((df**2).mean())),
    }


def offset_free_energy_mae(parts) -> float:
    """Energy MAE per atom (meV/atom) once each part's mean error is removed. ``parts`` are the
    ``(energy_pred, energy_ref, forces_pred, forces_ref, n_atoms)`` arrays of ``evaluate_store``,
    one per file (one chain): a chain's energy off by a constant has the right forces and MD, so
    this is the error of one conformation against another, without the offset a chemistry never
    trained on leaves in the per-element reference energies."""
    relative = []
    for energy_pred, energy_ref, _, _, n_atoms in parts:
        per_atom = (np.asarray(energy_pred, float) - np.asarray(energy_ref, float)) / np.asarray(n_atoms, float)
        relative.append(per_atom - per_atom.mean())
    return 1000 * float(np.abs(np.concatenate(relative)).mean())


def pooled_error_metrics(parts) -> dict[str, float]:
    """``error_metrics`` over the frames of several parts (the ``evaluate_store`` arrays of one
    file each) pooled, and ``energy_per_atom_offset_free_mae`` (``offset_free_energy_mae``)."""
    pooled = error_metrics(*(np.concatenate(a) for a in zip(*parts)))
    return {**pooled, "energy_per_atom_offset_free_mae": offset_free_energy_mae(parts)}


def stress_metrics(stress_pred, stress_ref) -> dict[str, float]:
    """Stress MAE over the six independent components and pressure MAE (P = -tr(sigma)/3),
    both in GPa, of structures (S, 3, 3) in eV/Å^3."""
    from ase import units

    pred, ref = (np.asarray(x, float) / units.GPa for x in (stress_pred, stress_ref))
    i, j = np.triu_indices(3)
    return {
        "stress_mae": float(np.abs(pred[:, i, j] - ref[:, i, j]).mean()),
        "pressure_mae": float(np.abs(np.trace(pred - ref, axis1=1, axis2=2) / 3).mean()),
    }


def evaluate_batches(model, batches, loss=None) -> dict:
    """Error metrics of ``model`` (a ``Potential``) over ``batches`` of ``AtomicGraph``s with
    reference labels, already on the model's device and dtype.

    Returns ``error_metrics``' numbers (with ``stress_metrics``' and "stress_arrays", predicted
    and reference stresses of the frames that have one, where any has), "arrays" (predicted and
    reference energies (B,), forces (N, 3), atoms per structure (B,), as numpy) and, if ``loss(model, batch) -> (loss,
    prediction)`` is given, "loss": its mean over structures.
    """
    parts: list[list[np.ndarray]] = [[], [], [], [], []]
    stresses: list[list[np.ndarray]] = [[], []]
    loss_sum, count = 0.0, 0
    for batch in batches:
        if loss is None:
            pred = model(batch, compute_stress=batch.stress is not None)
        else:  # the loss's prediction has a stress where the loss has a stress term
            value, pred = loss(model, batch)
            loss_sum += float(value.detach()) * batch.num_graphs
        if batch.stress is not None and "stress" in pred:
            has = torch.isfinite(batch.stress).all(dim=(1, 2))
            stresses[0].append(pred["stress"][has].detach().cpu().numpy())
            stresses[1].append(batch.stress[has].detach().cpu().numpy())
        count += batch.num_graphs
        for lst, value in zip(
            parts, (pred["energy"], batch.energy, pred["forces"], batch.forces, batch.atoms_per_graph())
        ):
            lst.append(value.detach().cpu().numpy())
    if not count:  # a rank's slice of a small set can be empty
        return {
            "arrays": (np.zeros(0), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, np.int64)),
            **({"loss": 0.0} if loss is not None else {}),
        }
    arrays = tuple(np.concatenate(p) for p in parts)
    out = {**error_metrics(*arrays), "arrays": arrays}
    if stresses[0] and sum(len(x) for x in stresses[0]):
        out["stress_arrays"] = (np.concatenate(stresses[0]), np.concatenate(stresses[1]))
        out.update(stress_metrics(*out["stress_arrays"]))
    if loss is not None:
        out["loss"] = loss_sum / count
    return out


def merge_evaluations(parts: list[dict]) -> dict:
    """One ``evaluate_batches`` result from those of disjoint parts of a set (the slices that
    data-parallel ranks evaluated): arrays concatenated, metrics recomputed, losses averaged
    over structures."""
    parts = [p for p in parts if len(p["arrays"][0])]
    arrays = tuple(np.concatenate(a) for a in zip(*(p["arrays"] for p in parts)))
    out = {**error_metrics(*arrays), "arrays": arrays}
    if all("loss" in p for p in parts):
        out["loss"] = sum(p["loss"] * len(p["arrays"][0]) for p in parts) / len(arrays[0])
    return out


def evaluate_store(model, data: str, indices=None, batch_size: int = 16) -> dict:
    """``evaluate_batches`` on frames ``indices`` (default all) of the frame store ``data``."""
    from equipot.data.graph import collate
    from equipot.train.data import GraphDataset

    dataset = GraphDataset(data, model.cutoff, indices, cache=False)
    dtype, device = next(model.parameters()).dtype, next(model.parameters()).device
    batches = (
        collate([dataset[k] for k in range(start, min(start + batch_size, len(dataset)))]).to(device, dtype)
        for start in range(0, len(dataset), batch_size)
    )
    try:
        return evaluate_batches(model, batches)
    finally:
        dataset.close()


def evaluate_held_out(model, data: str, lineage: list[dict], batch_size: int = 16) -> dict | None:
    """``evaluate_store`` on the frames of ``data`` that no model of ``lineage`` (the metadata
    of a checkpoint and of those it was fine-tuned from, ``checkpoint.lineage_metadata``)
    trained or validated on: all of them where none names the store. None if none is left."""
    from equipot.data.splits import untrained_frames
    from equipot.data.store import FrameStore

    with FrameStore(data) as store:
        n_frames = len(store)
    indices = untrained_frames(lineage, data, n_frames)
    indices = np.arange(n_frames) if indices is None else indices
    return evaluate_store(model, str(data), indices, batch_size) if len(indices) else None
