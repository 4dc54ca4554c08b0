"""Gate activation (Weiler et al. 2018), the non-linearity of Equiformer."""

from __future__ import annotations

import torch
from e3nn import nn as enn
from e3nn import o3
from torch import nn


class Gate(nn.Module):
    """SiLU on scalars; each L>0 channel is multiplied by the sigmoid of its own extra scalar.

    Build it from the irreps you want *out*; ``irreps_in`` tells the preceding linear layer
    what to produce (the output scalars, then one gate scalar per L>0 channel, then the
    L>0 channels).

    Shapes: x (N, irreps_in.dim) -> (N, irreps_out.dim)
    """

    def __init__(self, irreps_out: str | o3.Irreps) -> None:
        super().__init__()
        irreps_out = o3.Irreps(irreps_out).simplify()
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
        self.gate = enn.Gate(
            scalars, [torch.nn.functional.silu] * len(scalars),
            gates, [torch.sigmoid] * len(gates),
            gated,
        )
        self.irreps_in = self.gate.irreps_in
        self.irreps_out = self.gate.irreps_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(x)
