"""Training objectives: energy (per atom) + forces, or forces only (PolyGET)."""

from __future__ import annotations

import torch


def _error(pred: torch.Tensor, target: torch.Tensor, kind: str, delta: float) -> torch.Tensor:
    if kind == "mse":
        return torch.nn.functional.mse_loss(pred, target)
    if kind == "huber":
        return torch.nn.functional.huber_loss(pred, target, delta=delta)
    raise ValueError(f"loss must be 'mse' or 'huber', got {kind!r}")


def energy_force_loss(
    pred: dict[str, torch.Tensor],
    energy: torch.Tensor,
    forces: torch.Tensor,
    atoms_per_graph: torch.Tensor,
    *,
    energy_weight: float = 1.0,
    force_weight: float = 80.0,
    force_only: bool = False,
    kind: str = "mse",
    huber_delta: float = 0.01,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted loss and its parts.

    Energy enters per atom, (E_pred - E_ref) / n_atoms, so structures of different size weigh
    alike; forces component-wise. With ``force_only`` the energies are not used at all (their
    values cannot change the loss or its gradient), as in PolyGET's force-centric training.

    Shapes: pred["energy"] (B,), pred["forces"] (N, 3), energy (B,), forces (N, 3),
    atoms_per_graph (B,).
    """
    force_term = _error(pred["forces"], forces, kind, huber_delta)
    parts = {"force_loss": float(force_term.detach())}
    if force_only:
        return force_weight * force_term, parts
    n = atoms_per_graph.to(pred["energy"].dtype)
    energy_term = _error(pred["energy"] / n, energy / n, kind, huber_delta)
    parts["energy_loss"] = float(energy_term.detach())
    return energy_weight * energy_term + force_weight * force_term, parts
