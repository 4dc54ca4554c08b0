"""Gate activation (Weiler et al. 2018), the non-linearity of Equiformer."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from equipot.errors import EquipotError


class Gate(nn.Module):
    """SiLU on scalars; each L>0 channel is multiplied by the sigmoid of its own extra scalar.

    Build it from the irreps you want *out*; ``irreps_in`` tells the preceding linear layer
    what to produce: the output scalars, then one gate scalar per L>0 channel, then the L>0
    channels in the order of ``irreps_out``.

    Works on channels-last blocks, one per irrep type, as ``EquivariantLinear.forward_typed``
    makes them, so each L>0 type is listed once in ``irreps_out``.

    Shapes: [(N, 1, num_scalars + num_gates), (N, 2l+1, mul) per L>0 type]
            -> [(N, 1, num_scalars), (N, 2l+1, mul) per L>0 type]
    """

    def __init__(self, irreps_out: str | o3.Irreps) -> None:
        super().__init__()
        irreps_out = o3.Irreps(irreps_out).simplify()
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        if any(ir.p != 1 for _, ir in scalars):
            raise EquipotError(f"gate scalars must be even (0e), got {scalars}")
        if len({ir for _, ir in gated}) != len(gated):
            raise EquipotError(f"gate: list each L>0 irrep of {irreps_out} once (e.g. 8x0e+4x1o+2x2e)")
        # one scalar entry: the linear layer before makes a single 0e block anyway
        scalars = o3.Irreps(f"{scalars.dim}x0e") if scalars.dim else scalars
        self.irreps_out = scalars + gated
        self.irreps_in = scalars + o3.Irreps(f"{gated.num_irreps}x0e") + gated if gated else scalars
        self.num_scalars = scalars.dim
        self.num_gates = gated.num_irreps
        self.gate_sizes = [mul for mul, _ in gated]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.irreps_in} -> {self.irreps_out})"

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        if self.num_scalars:
            scalars, gates = x[0].split([self.num_scalars, self.num_gates], dim=-1)
            out.append(torch.nn.functional.silu(scalars))
        else:
            gates = x[0]
        for field, gate in zip(x[1:], torch.sigmoid(gates).split(self.gate_sizes, dim=-1)):
            out.append(field * gate)
        return out
