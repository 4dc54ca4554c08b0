"""Equivariant feed-forward network of a Transformer block."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from equipot.nn.gate import Gate
from equipot.nn.layout import channels_last
from equipot.nn.linear import EquivariantLinear


def scale_irreps(irreps: o3.Irreps, factor: int) -> o3.Irreps:
    """Same irreps with every multiplicity multiplied by ``factor``."""
    return o3.Irreps([(mul * factor, ir) for mul, ir in irreps])


class FeedForward(nn.Module):
    """Linear -> gate -> linear, with hidden irreps ``multiplier`` times wider.

    Shapes: x (N, irreps_node.dim) -> (N, irreps_node.dim)
    """

    def __init__(self, irreps_node: str | o3.Irreps, multiplier: int = 3) -> None:
        super().__init__()
        irreps_node = o3.Irreps(irreps_node)
        self.gate = Gate(scale_irreps(irreps_node, multiplier))
        self.linear_in = EquivariantLinear(irreps_node, self.gate.irreps_in, biases=True)
        self.linear_out = EquivariantLinear(self.gate.irreps_out, irreps_node)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.linear_in.forward_typed(channels_last(x, self.linear_in.in_layout))
        return self.linear_out.forward_blocks(self.gate(hidden))
