"""The edge features every layer reads: endpoints, harmonics, radial basis and envelope."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Edges(NamedTuple):
    """Edges j -> i of a graph with what the layers need of them, computed once per call.

    Fields (E edges):
        src: (E,) index of the sending atom j.
        dst: (E,) index of the receiving atom i.
        sh: (E, irreps_sh.dim) spherical harmonics Y(r_ij / |r_ij|), component normalisation.
        basis: (E, num_basis) radial basis of |r_ij|.
        envelope: (E,) smooth cutoff u(|r_ij|), exactly 0 at and beyond the cutoff.
    """

    src: torch.Tensor
    dst: torch.Tensor
    sh: torch.Tensor
    basis: torch.Tensor
    envelope: torch.Tensor

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    def select(self, index: torch.Tensor) -> "Edges":
        """The edges at ``index`` (E',), in that order."""
        return Edges(*(t.index_select(0, index) for t in self))

    def slice(self, start: int, stop: int, dst_offset: int = 0) -> "Edges":
        """Edges ``start:stop``, with ``dst_offset`` subtracted from their receiving atoms
        (for a run of destination atoms that starts at that atom)."""
        src, dst, sh, basis, envelope = (t[start:stop] for t in self)
        return Edges(src, dst - dst_offset, sh, basis, envelope)
