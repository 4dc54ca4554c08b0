"""Pre-norm Transformer block of Equiformer."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from equipot.nn.attention import GraphAttention
from equipot.nn.feedforward import FeedForward
from equipot.nn.norm import EquivariantLayerNorm


class TransformerBlock(nn.Module):
    """x + GraphAttention(LN(x)), then x + FeedForward(LN(x)).

    Shapes: x (N, irreps_node.dim) -> (N, irreps_node.dim); edge arguments as GraphAttention.
    """

    def __init__(
        self,
        irreps_node: str | o3.Irreps,
        irreps_sh: str | o3.Irreps,
        num_heads: int,
        num_basis: int,
        radial_hidden: int,
        ffn_multiplier: int,
    ) -> None:
        super().__init__()
        self.norm_attn = EquivariantLayerNorm(irreps_node)
        self.attention = GraphAttention(irreps_node, irreps_sh, num_heads, num_basis, radial_hidden)
        self.norm_ffn = EquivariantLayerNorm(irreps_node)
        self.ffn = FeedForward(irreps_node, ffn_multiplier)

    def forward(
        self,
        x: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        sh: torch.Tensor,
        basis: torch.Tensor,
        envelope: torch.Tensor,
    ) -> torch.Tensor:
        x = x + self.attention(self.norm_attn(x), edge_src, edge_dst, sh, basis, envelope)
        return x + self.ffn(self.norm_ffn(x))
