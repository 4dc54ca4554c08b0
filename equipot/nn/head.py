"""Per-atom energy read-out."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from equipot.nn.linear import EquivariantLinear
from equipot.nn.norm import EquivariantLayerNorm


class EnergyHead(nn.Module):
    """Layer norm, then an MLP on the scalar channels: one number per atom.

    Shapes: x (N, irreps_node.dim) -> (N,)
    """

    def __init__(self, irreps_node: str | o3.Irreps, hidden: int) -> None:
        super().__init__()
        self.norm = EquivariantLayerNorm(irreps_node)
        # o3.Linear to scalars reads only the 0e channels: the energy is invariant by design.
        self.linear_in = EquivariantLinear(o3.Irreps(irreps_node), o3.Irreps(f"{hidden}x0e"), biases=True)
        self.act = nn.SiLU()
        self.linear_out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_out(self.act(self.linear_in(self.norm(x)))).squeeze(-1)
