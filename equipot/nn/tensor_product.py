"""Depth-wise tensor product of edge features with edge spherical harmonics."""

from __future__ import annotations

import math
from typing import NamedTuple, Union

import torch
from e3nn import o3
from torch import nn


class OuterBlock(NamedTuple):
    """A per-edge rank-1 block ``left * right``: (E, 2l+1, 1) times (E, 1, mul).

    Every path from a scalar (0e) input is one: the weighted input channels times one
    column of the coupled harmonics. Kept factored, a following ``EquivariantLinear`` mixes the
    channels of ``right`` before the outer product, so the (E, 2l+1, mul) product, the widest
    tensor of the layer, is never made.
    """

    left: torch.Tensor
    right: torch.Tensor

    def dense(self) -> torch.Tensor:
        return self.left * self.right


Block = Union[torch.Tensor, OuterBlock]


def depthwise_paths(
    irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: o3.Irreps
) -> list[tuple[int, int, o3.Irrep]]:
    """(input entry, spherical-harmonic entry, output irrep) of every kept path.

    Every input channel is coupled with every spherical harmonic, keeping only output irreps
    that appear in ``allowed`` (so parity is respected: vectors stay ``1o``).
    """
    allowed_irs = {ir for _, ir in allowed}
    paths = [
        (i_in, i_sh, ir_out)
        for i_in, (_, ir_in) in enumerate(irreps_in)
        for i_sh, (_, ir_sh) in enumerate(irreps_sh)
        for ir_out in ir_in * ir_sh
        if ir_out in allowed_irs
    ]
    if not paths:
        raise ValueError(f"no tensor-product path from {irreps_in} x {irreps_sh} to {allowed}")
    return paths


class DepthwiseTensorProduct(nn.Module):
    """x_ij (x) Y(r_ij) channel by channel, with per-edge weights (Equiformer, Sec. 3.3).

    Each path (l_in, l_sh -> l_out) keeps the multiplicity of its input: channel u of the
    output only sees channel u of the input ("depth-wise"), scaled by its own weight
    w[e, path, u]. The weights are not parameters of this module: the caller passes one
    weight vector per edge (``weight_numel`` numbers), made from the edge length.

    The result equals e3nn's ``TensorProduct`` with 'uvu' instructions (same weight layout
    and component normalisation), but all paths of one input irrep are contracted with one
    stacked Clebsch-Gordan tensor, so a call is a few matrix products instead of one
    einsum per path: on CPU, with few edges, the per-path overhead dominated.

    Shapes: x (E, irreps_in.dim), sh (E, irreps_sh.dim), weight (E, weight_numel)
            -> (E, irreps_out.dim)
    """

    def __init__(
        self, irreps_in: str | o3.Irreps, irreps_sh: str | o3.Irreps, allowed: str | o3.Irreps
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_sh = o3.Irreps(irreps_sh)
        if any(mul != 1 for mul, _ in self.irreps_sh):
            raise ValueError(f"spherical harmonics must have multiplicity 1, got {self.irreps_sh}")
        paths = depthwise_paths(self.irreps_in, self.irreps_sh, o3.Irreps(allowed))
        self.irreps_out = o3.Irreps([(self.irreps_in[i].mul, ir) for i, _, ir in paths])
        self.weight_numel = sum(self.irreps_in[i].mul for i, _, _ in paths)

        sh_slices = self.irreps_sh.slices()
        self._cg64: list[torch.Tensor] = []
        # (input entry, mul, 2l_in+1, n_paths, out dims), plain ints for the forward pass
        self.entries: list[tuple[int, int, int, int, list[int]]] = []
        for i_in, (mul, ir_in) in enumerate(self.irreps_in):
            mine = [(i_sh, ir) for i, i_sh, ir in paths if i == i_in]
            if not mine:
                continue
            # Stack the CG blocks of all paths of this input: (2l_in+1, sh_dim, sum(2l_out+1))
            cg = torch.zeros(ir_in.dim, self.irreps_sh.dim, sum(ir.dim for _, ir in mine), dtype=torch.float64)
            k = 0
            for i_sh, ir_out in mine:
                l_sh = self.irreps_sh[i_sh].ir.l
                block = o3.wigner_3j(ir_in.l, l_sh, ir_out.l, dtype=torch.float64)
                # component normalisation, as e3nn: outputs have unit variance per component
                cg[:, sh_slices[i_sh], k : k + ir_out.dim] = block * math.sqrt(ir_out.dim)
                k += ir_out.dim
            self.entries.append((i_in, mul, ir_in.dim, len(mine), [ir.dim for _, ir in mine]))
            self._cg64.append(cg)
            # not in the state dict: always rebuilt from the masters (see _apply)
            self.register_buffer(f"cg{len(self._cg64) - 1}", cg.to(torch.get_default_dtype()), persistent=False)
        self.in_dims = [mul * ir.dim for mul, ir in self.irreps_in]

    def _apply(self, fn, recurse=True):
        """Casts and moves as any module, then re-derives the CG buffers from exact float64
        masters: a float32 -> float64 cast would keep float32 rounding (that broke
        equivariance at 1e-7)."""
        super()._apply(fn, recurse)
        for k, master in enumerate(self._cg64):
            buf = getattr(self, f"cg{k}")
            setattr(self, f"cg{k}", master.to(device=buf.device, dtype=buf.dtype))
        return self

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        blocks = self.forward_blocks(x, sh, weight)
        # back to e3nn's layout: per entry, (mul, 2l+1) flattened
        dense = [b.dense() if isinstance(b, OuterBlock) else b for b in blocks]
        return torch.cat([b.transpose(1, 2).flatten(1) for b in dense], dim=-1)

    def forward_blocks(self, x: torch.Tensor, sh: torch.Tensor, weight: torch.Tensor) -> list[Block]:
        """The output split per irreps entry, channels last: a list of (E, 2l_out+1, mul)
        tensors, or ``OuterBlock``s of that shape for paths from scalar inputs; the form
        ``EquivariantLinear.forward_blocks`` takes (the wide output is never concatenated, and
        a contiguous channels-last block is one matrix product with no transposed copy)."""
        num_edges = x.shape[0]
        blocks = x.split(self.in_dims, dim=-1)
        # split, not slices: the backward of a slice fills a zero tensor the size of the whole
        # (E, weight_numel) weight for every entry
        weights = weight.split([n_paths * mul for _, mul, _, n_paths, _ in self.entries], dim=-1)
        outputs = []
        for k, (i_in, mul, dim_in, n_paths, out_dims) in enumerate(self.entries):
            cg = getattr(self, f"cg{k}")
            # weights laid out path-major, as e3nn's 'uvu' instructions: (E, n_paths, mul)
            w = weights[k].reshape(num_edges, n_paths, mul)
            # contract the harmonics first: (E, 2l_in+1, K)
            coupling = torch.einsum("es,dsk->edk", sh, cg)
            if dim_in == 1:
                # Scalar input: each path's output is rank 1 per edge (see OuterBlock):
                # weight the (E, mul) input per path and keep the harmonics column beside it.
                xw = blocks[i_in].unsqueeze(1) * w
                for c_path, xw_path in zip(coupling.split(out_dims, dim=-1), xw.split(1, dim=1)):
                    block = OuterBlock(c_path.transpose(1, 2), xw_path)
                    # Under torch.compile the expanded product is cheaper: inductor fuses it into
                    # the products around it, while the factored form made a compiled aspirin
                    # force call 70 ms instead of 47 (bench/compile_speedup.py).
                    outputs.append(block.dense() if torch.compiler.is_compiling() else block)
                continue
            # then the channels, channels last: (E, K, 2l_in+1) @ (E, 2l_in+1, mul) -> (E, K, mul).
            # (Measured on CPU against broadcast sums and one large GEMM over an outer
            # product: this batched product was fastest in the full model.)
            t = torch.bmm(coupling.transpose(1, 2), blocks[i_in].reshape(num_edges, mul, dim_in).transpose(1, 2))
            # per-path broadcast multiply: gathering the weights to (E, K, mul) instead would
            # cost an index_put in the backward pass
            for part, w_path in zip(t.split(out_dims, dim=1), w.unbind(1)):
                outputs.append(part * w_path.unsqueeze(1))
        return outputs
