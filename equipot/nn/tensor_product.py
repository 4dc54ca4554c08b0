"""Depth-wise tensor product of edge features with edge spherical harmonics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from e3nn import o3
from torch import nn

from equipot.errors import EquipotError
from equipot.nn.layout import SCALAR, Block, OuterBlock, channels_last, dense


def depthwise_paths(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: o3.Irreps) -> list[tuple[int, int, o3.Irrep]]:
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
        raise EquipotError(f"no tensor-product path from {irreps_in} x {irreps_sh} to {allowed}")
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

    Equal to e3nn's ``TensorProduct`` with one 'uvu' instruction per path::

        >>> import torch
        >>> from e3nn import o3
        >>> sh = o3.Irreps.spherical_harmonics(1)
        >>> ours = DepthwiseTensorProduct("4x0e+2x1o", sh, "0e+1o")
        >>> paths = depthwise_paths(ours.irreps_in, sh, o3.Irreps("0e+1o"))
        >>> ref = o3.TensorProduct(ours.irreps_in, sh, ours.irreps_out,
        ...                        [(i, s, k, "uvu", True) for k, (i, s, _) in enumerate(paths)],
        ...                        shared_weights=False, internal_weights=False)
        >>> x, y, w = torch.randn(3, 10), o3.spherical_harmonics(sh, torch.randn(3, 3), True), torch.randn(3, 12)
        >>> torch.allclose(ours(x, y, w), ref(x, y, w), atol=1e-5)
        True
    """

    def __init__(self, irreps_in: str | o3.Irreps, irreps_sh: str | o3.Irreps, allowed: str | o3.Irreps) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_sh = o3.Irreps(irreps_sh)
        if any(mul != 1 for mul, _ in self.irreps_sh):
            raise EquipotError(f"spherical harmonics must have multiplicity 1, got {self.irreps_sh}")
        paths = depthwise_paths(self.irreps_in, self.irreps_sh, o3.Irreps(allowed))
        self.irreps_out = o3.Irreps([(self.irreps_in[i].mul, ir) for i, _, ir in paths])
        self.weight_numel = sum(self.irreps_in[i].mul for i, _, _ in paths)

        sh_slices = self.irreps_sh.slices()
        self._cg64: list[torch.Tensor] = []
        # (input entry, mul, 2l_in+1, n_paths, out dims), plain ints for the forward pass
        self.entries: list[tuple[int, int, int, int, list[int]]] = []
        # Per entry, (position among its paths, first output row) of its path to 0e, or None,
        # and the indices of those paths among all paths: ``forward_blocks(scalars_only=True)``.
        self.scalar_path: list[tuple[int, int] | None] = []
        self.scalar_paths: list[int] = []
        for i_in, (mul, ir_in) in enumerate(self.irreps_in):
            mine = [(i_sh, ir) for i, i_sh, ir in paths if i == i_in]
            if not mine:
                continue
            outs = [ir for _, ir in mine]
            if SCALAR in outs:
                j = outs.index(SCALAR)
                self.scalar_path.append((j, sum(ir.dim for ir in outs[:j])))
                self.scalar_paths.append(sum(e[3] for e in self.entries) + j)
            else:
                self.scalar_path.append(None)
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
        self.in_layout = [(mul, ir.dim) for mul, ir in self.irreps_in]
        # one weight vector per path, in the order of forward_blocks' ``weights`` (the
        # 'uvu' layout: paths of one input entry one after another)
        self.weight_sizes = [mul for _, mul, _, n_paths, _ in self.entries for _ in range(n_paths)]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.irreps_in} x {self.irreps_sh} -> {self.irreps_out} | "
            f"{len(self.weight_sizes)} paths, {self.weight_numel} weights per edge)"
        )

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
        out = self.forward_blocks(channels_last(x, self.in_layout), sh, weight.split(self.weight_sizes, dim=-1))
        # back to e3nn's layout: per entry, (mul, 2l+1) flattened
        return torch.cat([dense(b).transpose(1, 2).flatten(1) for b in out], dim=-1)

    def forward_blocks(
        self,
        x: Sequence[torch.Tensor],
        sh: torch.Tensor,
        weights: Sequence[torch.Tensor | None],
        scalars_only: bool = False,
    ) -> list[Block | None]:
        """The same product with inputs and outputs split per irreps entry, channels last.

        x[k] is entry k of ``irreps_in`` as (E, 2l_k+1, mul_k), the form that
        ``EquivariantLinear.forward_typed`` and ``Gate`` make; weights[p] the (E, weight_sizes[p])
        weights of path p (``RadialMLP`` makes them split). The
        output is a list of (E, 2l_out+1, mul) tensors, or ``OuterBlock``s of that shape for
        paths from scalar inputs: the form ``EquivariantLinear`` takes. Nothing edge-sized is
        concatenated only to be split again: on CPU those copies (and the concatenations in the
        backward pass of every split) were a tenth of a batched force call.

        ``scalars_only`` computes only the paths to 0e (``scalar_paths``; the others are None
        in the output and may be None in ``weights``): what a model's last layer needs, since
        the energy reads scalars only.
        """
        outputs: list[Block | None] = []
        path_weights = iter(weights)
        for k, (i_in, _mul, dim_in, n_paths, out_dims) in enumerate(self.entries):
            cg = getattr(self, f"cg{k}")
            w = [next(path_weights) for _ in range(n_paths)]
            if scalars_only:
                outputs += [None] * n_paths
                if self.scalar_path[k] is not None:
                    j, row = self.scalar_path[k]
                    # the one output row of the path to 0e: (E, 1, 2l_in+1) @ (E, 2l_in+1, mul)
                    coupling = torch.einsum("es,ds->ed", sh, cg[:, :, row]).unsqueeze(1)
                    outputs[-n_paths + j] = torch.bmm(coupling, x[i_in]) * w[j].unsqueeze(1)
                continue
            # (E, 1, mul) per path: one tensor each, so no edge-sized split or stack is
            # undone by a concatenation in the backward pass
            w = [w_path.unsqueeze(1) for w_path in w]
            # contract the harmonics first: (E, 2l_in+1, K)
            coupling = torch.einsum("es,dsk->edk", sh, cg)
            if dim_in == 1:
                # Scalar input: each path's output is rank 1 per edge (see OuterBlock):
                # weight the (E, 1, mul) input per path and keep the harmonics column beside it.
                for c_path, w_path in zip(coupling.split(out_dims, dim=-1), w):
                    block = OuterBlock(c_path.transpose(1, 2), x[i_in] * w_path)
                    # Under torch.compile the expanded product is cheaper: inductor fuses it into
                    # the products around it (bench/compile_speedup.py measures both).
                    outputs.append(block.dense() if torch.compiler.is_compiling() else block)
                continue
            # then the channels, channels last: (E, K, 2l_in+1) @ (E, 2l_in+1, mul) -> (E, K, mul).
            # (Measured on CPU against broadcast sums and one large GEMM over an outer
            # product: this batched product was fastest in the full model.)
            t = torch.bmm(coupling.transpose(1, 2), x[i_in])
            # per-path broadcast multiply: gathering the weights to (E, K, mul) instead would
            # cost an index_put in the backward pass
            for part, w_path in zip(t.split(out_dims, dim=1), w):
                outputs.append(part * w_path)
        return outputs
