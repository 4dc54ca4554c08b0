"""Pre-norm Transformer block of Equiformer (Sec. 3.4, Fig. 1)."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from equipot.nn.attention import GraphAttention
from equipot.nn.edges import Edges
from equipot.nn.feedforward import FeedForward
from equipot.nn.norm import EquivariantLayerNorm
from equipot.nn.scale import ChannelScale


class TransformerBlock(nn.Module):
    """x + GraphAttention(LN(x)), then x + FeedForward(LN(x)).

    ``scalars_only`` marks a model's last block, whose attention then computes only its
    scalar outputs (see ``GraphAttention``). ``residual_scale``: each branch is multiplied by
    learned per-channel gains starting at this value (``ChannelScale``); None, the paper's
    block, adds the branches as they are. ``norm_high_l`` and ``learned_null`` go to the
    layer norms and the attention.

    Shapes: x (N, irreps_node.dim), edges (E edges) -> (N, irreps_node.dim)
    """

    def __init__(
        self,
        irreps_node: str | o3.Irreps,
        irreps_sh: str | o3.Irreps,
        num_heads: int,
        num_basis: int,
        radial_hidden: int,
        ffn_multiplier: int,
        scalars_only: bool = False,
        residual_scale: float | None = None,
        norm_high_l: bool = True,
        learned_null: bool = False,
    ) -> None:
        super().__init__()
        self.norm_attn = EquivariantLayerNorm(irreps_node, high_l=norm_high_l)
        self.attention = GraphAttention(
            irreps_node, irreps_sh, num_heads, num_basis, radial_hidden, scalars_only, learned_null
        )
        self.norm_ffn = EquivariantLayerNorm(irreps_node, high_l=norm_high_l)
        self.ffn = FeedForward(irreps_node, ffn_multiplier)
        scaled = residual_scale is not None
        self.scale_attn = ChannelScale(irreps_node, residual_scale) if scaled else nn.Identity()
        self.scale_ffn = ChannelScale(irreps_node, residual_scale) if scaled else nn.Identity()

    def forward(self, x: torch.Tensor, edges: Edges, edge_chunk_size: int | None = None) -> torch.Tensor:
        x = x + self.scale_attn(self.attention(self.norm_attn(x), edges, edge_chunk_size))
        return x + self.scale_ffn(self.ffn(self.norm_ffn(x)))
