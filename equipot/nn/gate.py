"""Gate activation (Weiler et al. 2018), the non-linearity of Equiformer."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn


class Gate(nn.Module):
    """SiLU on scalars; each L>0 channel is multiplied by the sigmoid of its own extra scalar.

    Build it from the irreps you want *out*; ``irreps_in`` tells the preceding linear layer
    what to produce: the output scalars, then one gate scalar per L>0 channel, then the L>0
    channels in the order of ``irreps_out``.

    Shapes: x (N, irreps_in.dim) -> (N, irreps_out.dim)
    """

    def __init__(self, irreps_out: str | o3.Irreps) -> None:
        super().__init__()
        irreps_out = o3.Irreps(irreps_out).simplify()
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        if any(ir.p != 1 for _, ir in scalars):
            raise ValueError(f"gate scalars must be even (0e), got {scalars}")
        self.irreps_out = scalars + gated
        self.irreps_in = scalars + o3.Irreps(f"{gated.num_irreps}x0e") + gated if gated else scalars
        self.num_scalars = scalars.dim
        self.num_gates = gated.num_irreps
        self.gated = [(mul, ir.dim) for mul, ir in gated]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        sizes = [self.num_scalars, self.num_gates] + [mul * d for mul, d in self.gated]
        scalars, gates, *fields = x.split(sizes, dim=-1)
        out = [torch.nn.functional.silu(scalars)]
        gates = torch.sigmoid(gates).split([mul for mul, _ in self.gated], dim=-1)
        for field, gate, (mul, d) in zip(fields, gates, self.gated):
            out.append((field.reshape(n, mul, d) * gate.unsqueeze(-1)).reshape(n, mul * d))
        return torch.cat(out, dim=-1)
