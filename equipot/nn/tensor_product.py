"""Depth-wise tensor product of node features with edge spherical harmonics."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn


def depthwise_output_irreps(
    irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: o3.Irreps
) -> tuple[o3.Irreps, list[tuple[int, int, int, str, bool]]]:
    """Output irreps and e3nn instructions of a channel-wise ('uvu') tensor product.

    Every input channel is coupled with every spherical harmonic, keeping only output irreps
    that appear in ``allowed`` (so parity is respected: vectors stay ``1o``). Each path keeps
    the multiplicity of its input, which is what makes the product depth-wise: channel u of
    the output only sees channel u of the input.
    """
    allowed_irs = {ir for _, ir in allowed}
    out: list[tuple[int, o3.Irrep]] = []
    instructions = []
    for i_in, (mul, ir_in) in enumerate(irreps_in):
        for i_sh, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in allowed_irs:
                    instructions.append((i_in, i_sh, len(out), "uvu", True))
                    out.append((mul, ir_out))
    if not out:
        raise ValueError(f"no tensor-product path from {irreps_in} x {irreps_sh} to {allowed}")
    return o3.Irreps(out), instructions


class DepthwiseTensorProduct(nn.Module):
    """x_ij (x) Y(r_ij) with per-edge weights from a radial MLP (Equiformer, Sec. 3.3).

    The weights are not learned parameters of this module: the caller passes one weight
    vector per edge (``weight_numel`` numbers), produced from the edge length.

    Shapes: x (E, irreps_in.dim), sh (E, irreps_sh.dim), weight (E, weight_numel)
            -> (E, irreps_out.dim)
    """

    def __init__(
        self, irreps_in: str | o3.Irreps, irreps_sh: str | o3.Irreps, allowed: str | o3.Irreps
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_sh = o3.Irreps(irreps_sh)
        self.irreps_out, instructions = depthwise_output_irreps(
            self.irreps_in, self.irreps_sh, o3.Irreps(allowed)
        )
        self.tp = o3.TensorProduct(
            self.irreps_in,
            self.irreps_sh,
            self.irreps_out,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.weight_numel = self.tp.weight_numel

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.tp(x, sh, weight)
