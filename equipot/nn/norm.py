"""Equivariant layer normalisation (Equiformer, Sec. 3.2)."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn


class EquivariantLayerNorm(nn.Module):
    """Layer norm that commutes with rotations.

    Scalars (L=0) get the usual layer norm: subtract the mean over channels, divide by the
    standard deviation, scale and shift. Higher L get no mean and no bias (either would break
    equivariance); they are divided by the root-mean-square of their norms over channels and
    scaled per channel.

    ``high_l=False`` normalises the scalars only and passes L>0 features through unchanged
    (an ablation: their scale is then set by the linear layers alone).

    Shapes: x (N, irreps.dim) -> (N, irreps.dim)
    """

    def __init__(self, irreps: str | o3.Irreps, eps: float = 1e-5, high_l: bool = True) -> None:
        super().__init__()
        self.irreps = o3.Irreps(irreps)
        self.eps = eps
        self.high_l = bool(high_l)
        normed = [ir.l == 0 or self.high_l for _, ir in self.irreps]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.ones(mul)) for (mul, _), n in zip(self.irreps, normed) if n]
        )
        n_scalar = sum(mul for mul, ir in self.irreps if ir.l == 0)
        self.bias = nn.Parameter(torch.zeros(n_scalar))
        self.layout = [(mul, ir.dim, ir.l == 0, n) for (mul, ir), n in zip(self.irreps, normed)]

    def __repr__(self) -> str:
        high_l = "" if self.high_l else ", L>0 not normalised"
        return f"{type(self).__name__}({self.irreps}, eps={self.eps}{high_l})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        out = []
        bias_start = 0
        blocks = x.split([mul * d for mul, d, _, _ in self.layout], dim=-1)
        weights = iter(self.weights)
        for (mul, d, scalar, normed), block in zip(self.layout, blocks):
            if not normed:
                out.append(block)
                continue
            w = next(weights)
            field = block.reshape(n, mul, d)
            if scalar:
                field = field - field.mean(dim=1, keepdim=True)
            # Mean over channels and components of the squared field: for L>0 this is the
            # mean squared norm per component, i.e. the RMS-of-norms normalisation.
            rms = field.pow(2).mean(dim=(1, 2), keepdim=True).add(self.eps).rsqrt()
            field = field * rms * w.view(1, mul, 1)
            if scalar:
                field = field + self.bias[bias_start : bias_start + mul].view(1, mul, 1)
                bias_start += mul
            out.append(field.reshape(n, mul * d))
        return torch.cat(out, dim=-1)
