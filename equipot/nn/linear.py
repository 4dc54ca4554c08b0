"""Equivariant linear layer: mixes channels of the same irrep, never across irreps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from e3nn import o3
from torch import nn

from equipot.nn.layout import SCALAR, Block, OuterBlock, channels_last


class EquivariantLinear(nn.Module):
    """y[ir] = x[ir] @ W[ir] / sqrt(fan_in), plus a bias on scalar outputs if asked.

    The same map and normalisation as ``e3nn.o3.Linear``, written with one matrix product
    per irrep type and ``split`` instead of slicing: on CPU, where one molecule has few
    edges, the backward pass of e3nn's per-slice indexing (a zero tensor the size of the
    input for every slice) dominated the time of a force call. Outputs of an irrep absent
    from the input are zero.

    Shapes: x (..., irreps_in.dim) -> (..., irreps_out.dim)

    Equal to e3nn's ``Linear`` with the same weights (e3nn keeps them flat, one block after
    another, in the order of our ``weights``)::

        >>> import torch
        >>> from e3nn import o3
        >>> ours, ref = EquivariantLinear("4x0e+2x1o", "3x0e+1x1o"), o3.Linear("4x0e+2x1o", "3x0e+1x1o")
        >>> with torch.no_grad():
        ...     _ = ref.weight.copy_(torch.cat([w.flatten() for w in ours.weights]))
        >>> x = torch.randn(5, 10)
        >>> torch.allclose(ours(x), ref(x), atol=1e-6)
        True
    """

    def __init__(self, irreps_in: str | o3.Irreps, irreps_out: str | o3.Irreps, biases: bool = False) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        in_irs = {ir for _, ir in self.irreps_in}
        self.irs = [ir for ir in dict.fromkeys(ir for _, ir in self.irreps_out) if ir in in_irs]
        self.in_index = [[k for k, (_, i) in enumerate(self.irreps_in) if i == ir] for ir in self.irs]
        self.out_muls = [[mul for mul, i in self.irreps_out if i == ir] for ir in self.irs]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(sum(self.irreps_in[k].mul for k in idx), sum(muls)))
            for idx, muls in zip(self.in_index, self.out_muls)
        )
        n_bias = sum(self.out_muls[self.irs.index(SCALAR)]) if biases and SCALAR in self.irs else 0
        self.bias = nn.Parameter(torch.zeros(n_bias)) if n_bias else None
        # Plain-int layouts for forward: no e3nn Irreps objects on the hot path (cheaper in
        # eager mode, and torch.compile cannot guard on Irreps).
        self.in_layout = [(mul, ir.dim) for mul, ir in self.irreps_in]
        self.in_muls = [[self.irreps_in[k].mul for k in idx] for idx in self.in_index]
        self.scalar_at = self.irs.index(SCALAR) if SCALAR in self.irs else -1
        self.bias_at = self.scalar_at if self.bias is not None else -1
        self.out_layout = [(mul, ir.dim, self.irs.index(ir) if ir in self.irs else -1) for mul, ir in self.irreps_out]
        self.out_dim = self.irreps_out.dim

    def __repr__(self) -> str:
        weights = sum(w.numel() for w in self.weights)
        biases = f" + {self.bias.numel()} biases" if self.bias is not None else ""
        return f"{type(self).__name__}({self.irreps_in} -> {self.irreps_out} | {weights} weights{biases})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        blocks = channels_last(x.reshape(-1, x.shape[-1]), self.in_layout)
        return self.forward_blocks(blocks).reshape(*lead, self.out_dim)

    def forward_blocks(self, blocks: Sequence[Block]) -> torch.Tensor:
        """Same map on input already split per irreps entry, channels last: blocks[k]
        (n, 2l_k+1, mul_k), as ``DepthwiseTensorProduct.forward_blocks`` makes them; output in
        e3nn's layout, (n, irreps_out.dim).
        """
        return self.flatten(self.forward_typed(blocks))

    def flatten(self, typed: Sequence[torch.Tensor | None]) -> torch.Tensor:
        """Output of ``forward_typed`` (or sums of it) in e3nn's layout, (n, irreps_out.dim);
        zeros for output irreps absent from the input, or left out (None) in ``typed``."""
        given = [out for out in typed if out is not None]
        n = given[0].shape[0]
        # (n, fan_out, 2l+1) made contiguous once, so each output entry below is a view
        outputs = [
            None if out is None else iter(out.transpose(1, 2).contiguous().split(muls, dim=1))
            for out, muls in zip(typed, self.out_muls)
        ]
        pieces = [
            next(outputs[t]).reshape(n, mul * d)
            if t >= 0 and outputs[t] is not None
            else given[0].new_zeros(n, mul * d)
            for mul, d, t in self.out_layout
        ]
        return torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]

    def forward_typed(self, blocks: Sequence[Block | None], scalars_only: bool = False) -> list[torch.Tensor | None]:
        """The map from channels-last blocks to channels-last output, one tensor per irrep
        type of the output (in the order of ``irs``): (n, 2l+1, fan_out), the channels of that
        type's output entries one after another.

        Saves concatenating a wide input (a tensor-product output, say) only to split it
        again, and a contiguous channels-last block is one matrix product with no copy. An
        ``OuterBlock`` (left * right) is mixed as left * (right @ W): the same numbers, without
        expanding it. ``scalars_only`` makes just the 0e output (the others are None), from
        the 0e input blocks only (the others may be None).
        """
        outputs: list[torch.Tensor | None] = []
        for t, (w, idx, in_muls) in enumerate(zip(self.weights, self.in_index, self.in_muls)):
            if scalars_only and t != self.scalar_at:
                outputs.append(None)
                continue
            # (n, 2l+1, fan_in) @ (fan_in, fan_out) -> (n, 2l+1, fan_out), one product per
            # input entry against its rows of W, summed: no concatenation of the input
            out = None
            row = 0
            # the 1/sqrt(fan_in) goes on the (small) weight, not on the (n, ...) output
            w = w * (1.0 / math.sqrt(w.shape[0]))
            for k, mul in zip(idx, in_muls):
                w_k = w if len(idx) == 1 else w[row : row + mul]
                row += mul
                block = blocks[k]
                if isinstance(block, OuterBlock):
                    # right is (n, 1, mul), often a strided view: as a 2-D matrix it is one
                    # GEMM, where matmul would broadcast W to a batch of n products
                    term = block.left * torch.mm(block.right.squeeze(1), w_k).unsqueeze(1)
                else:
                    term = torch.matmul(block, w_k)
                out = term if out is None else out + term
            if t == self.bias_at:
                out = out + self.bias
            outputs.append(out)
        return outputs
