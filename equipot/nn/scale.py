"""Learned per-channel scale of a residual branch (LayerScale, Touvron et al., ICCV 2021)."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn


class ChannelScale(nn.Module):
    """y = x * g_c: one learned gain per channel, shared by the 2l+1 components of the channel.

    On a residual branch, x + ChannelScale(f(x)), a small initial gain (0.1, say) starts each
    block close to the identity and lets training decide how much of it to use. A scalar gain
    per channel commutes with rotations and reflections, so equivariance is kept.

    Shapes: x (N, irreps.dim) -> (N, irreps.dim)
    """

    def __init__(self, irreps: str | o3.Irreps, init: float) -> None:
        super().__init__()
        self.irreps = o3.Irreps(irreps)
        self.init = float(init)
        self.gain = nn.Parameter(torch.full((self.irreps.num_irreps,), self.init))
        # the channel of every component (e3nn's layout: each channel's 2l+1 components together)
        index = [
            channel
            for channel, dim in enumerate(ir.dim for mul, ir in self.irreps for _ in range(mul))
            for _ in range(dim)
        ]
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.irreps} -> {self.irreps} | init {self.init:g})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain.index_select(0, self.index)
