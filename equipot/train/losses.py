"""Training objectives: energy (per atom) + forces (+ stress), or forces only (PolyGET).

Stress enters in GPa (1 eV/Å^3 = 160.2 GPa), so its weight is in GPa^-2 and a weight of 1
makes a 1 GPa error cost what a 1 eV/Å force error costs at ``force_weight`` 1; only structures
with a stress target (periodic frames that have one) contribute to it.
"""

from __future__ import annotations

import torch
from ase import units

from equipot.errors import EquipotError

GPA_PER_EV_A3 = 1.0 / units.GPa  # 160.2177 GPa per eV/Å^3


def _error(pred: torch.Tensor, target: torch.Tensor, kind: str, delta: float) -> torch.Tensor:
    if kind == "mse":
        return torch.nn.functional.mse_loss(pred, target)
    if kind == "huber":
        return torch.nn.functional.huber_loss(pred, target, delta=delta)
    raise EquipotError(f"loss must be 'mse' or 'huber', got {kind!r}")


def loss_terms(
    pred: dict[str, torch.Tensor],
    energy: torch.Tensor,
    forces: torch.Tensor,
    atoms_per_graph: torch.Tensor,
    *,
    force_only: bool = False,
    kind: str = "mse",
    huber_delta: float = 0.01,
    stress: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Unweighted loss terms as tensors: "force" (mean over the N*3 components, (eV/Å)^2),
    unless ``force_only`` "energy" (mean over the B structures of the per-atom error,
    (eV/atom)^2), and with ``stress`` targets (B, 3, 3) eV/Å^3 (NaN rows: none) and a predicted
    stress "stress" (mean over the 9 components of the structures that have one, GPa^2).
    """
    terms = {"force": _error(pred["forces"], forces, kind, huber_delta)}
    if not force_only:
        n = atoms_per_graph.to(pred["energy"].dtype)
        terms["energy"] = _error(pred["energy"] / n, energy / n, kind, huber_delta)
    if stress is not None and "stress" in pred:
        has = torch.isfinite(stress).all(dim=(1, 2))
        if bool(has.any()):
            terms["stress"] = _error(
                pred["stress"][has] * GPA_PER_EV_A3, stress[has] * GPA_PER_EV_A3, kind, huber_delta
            )
    return terms


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
    shares: tuple[float, float] = (1.0, 1.0),
    stress: torch.Tensor | None = None,
    stress_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted loss and its parts (unweighted, detached 0-d tensors: no host sync per step).

    Energy enters per atom, (E_pred - E_ref) / n_atoms, so structures of different size weigh
    alike; forces component-wise. With ``force_only`` the energies are not used at all (their
    values cannot change the loss or its gradient), as in PolyGET's force-centric training.

    ``shares`` = (this process's fraction of the global batch's structures, of its atoms):
    under data parallelism each rank's loss is weighted by them, so the gradients summed over
    ranks equal those of the whole batch in one process.

    ``stress_weight`` (GPa^-2) adds the stress term for the structures of ``stress`` (B, 3, 3)
    eV/Å^3 that have one (not NaN); at 0 the loss is the energy and force loss exactly.

    Shapes: pred["energy"] (B,), pred["forces"] (N, 3), pred["stress"] (B, 3, 3), energy (B,),
    forces (N, 3), atoms_per_graph (B,).
    """
    terms = loss_terms(
        pred,
        energy,
        forces,
        atoms_per_graph,
        force_only=force_only,
        kind=kind,
        huber_delta=huber_delta,
        stress=stress if stress_weight else None,
    )
    total = force_weight * shares[1] * terms["force"]
    parts = {"force_loss": terms["force"].detach()}
    if "energy" in terms:
        total = total + energy_weight * shares[0] * terms["energy"]
        parts["energy_loss"] = terms["energy"].detach()
    if "stress" in terms:
        total = total + stress_weight * shares[0] * terms["stress"]
        parts["stress_loss"] = terms["stress"].detach()
    return total, parts
