"""Memory layout of irreps features: channels-last blocks, one per irreps entry or irrep type.

e3nn stores features of irreps ``mul x l`` as (n, mul * (2l+1)), each channel's 2l+1
components together. Matrix products over channels want the other order, (n, 2l+1, mul):
then mixing channels is one GEMM on a contiguous block with no transposed copy. The layers
of ``equipot.nn`` pass such blocks between them (``EquivariantLinear.forward_typed``,
``DepthwiseTensorProduct.forward_blocks``, ``Gate``) and convert back to e3nn's layout only
where node features are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Union

import torch
from e3nn import o3


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


Block = Union[torch.Tensor, OuterBlock]  # noqa: UP007 (a runtime alias)
SCALAR = o3.Irrep("0e")


def dense(block: Block) -> torch.Tensor:
    """The block as one tensor, (E, 2l+1, mul)."""
    return block.dense() if isinstance(block, OuterBlock) else block


def channels_last(x: torch.Tensor, layout: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    """Split features in e3nn's layout into one channels-last view per irreps entry.

    Shapes: x (n, sum(mul * d)), layout [(mul, d)] -> [(n, d, mul)] (views, no copy)
    """
    n = x.shape[0]
    return [
        b.reshape(n, mul, d).transpose(1, 2) for b, (mul, d) in zip(x.split([m * d for m, d in layout], dim=-1), layout)
    ]
