"""Embeddings: atom type to node features, and Equiformer's edge-degree embedding."""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from equipot.nn.edges import Edges
from equipot.nn.linear import EquivariantLinear
from equipot.nn.radial import RadialMLP
from equipot.nn.tensor_product import DepthwiseTensorProduct


class AtomEmbedding(nn.Module):
    """One-hot species -> scalar channels of the node irreps (L>0 channels start at zero).

    Shapes: species (N,) int -> (N, irreps_node.dim)
    """

    def __init__(self, num_species: int, irreps_node: str | o3.Irreps) -> None:
        super().__init__()
        self.num_species = num_species
        self.linear = EquivariantLinear(o3.Irreps(f"{num_species}x0e"), o3.Irreps(irreps_node))

    def forward(self, species: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(species, self.num_species).to(dtype)
        return self.linear(onehot)


class EdgeDegreeEmbedding(nn.Module):
    """Sum over neighbours of radial functions times spherical harmonics (Equiformer, Sec. 3.4).

    Gives every node its first L>0 features before the first attention block. Each term is
    multiplied by the cutoff envelope, and the sum is divided by the average number of
    neighbours so its size does not grow with density.

    Shapes: edges (E edges, see ``Edges``), num_nodes N -> (N, irreps_node.dim)
    """

    def __init__(
        self,
        irreps_node: str | o3.Irreps,
        irreps_sh: str | o3.Irreps,
        num_basis: int,
        radial_hidden: int,
        avg_num_neighbors: float,
    ) -> None:
        super().__init__()
        irreps_node = o3.Irreps(irreps_node)
        channels = sum(mul for mul, ir in irreps_node if ir.l == 0)
        self.channels = channels
        self.tp = DepthwiseTensorProduct(f"{channels}x0e", irreps_sh, irreps_node)
        self.radial = RadialMLP(num_basis, radial_hidden, self.tp.weight_sizes)
        self.linear = EquivariantLinear(self.tp.irreps_out, irreps_node)
        self.avg_num_neighbors = float(avg_num_neighbors)

    def forward(self, edges: Edges, num_nodes: int) -> torch.Tensor:
        sh = edges.sh
        # the input is a constant 1 per channel; the tensor product is linear in the
        # harmonics, so the envelope scales them, (E, 9), not a wider tensor
        ones = sh.new_ones(1, 1, 1).expand(sh.shape[0], 1, self.channels)
        edge_feat = self.tp.forward_blocks([ones], sh * edges.envelope.unsqueeze(-1), self.radial(edges.basis))
        # The linear layer (no bias) commutes with the sum over neighbours. Applied per edge to
        # the rank-1 blocks it mixes (E, 1, channels) rows before they are expanded, so the
        # widest edge tensor is (E, 2l+1, mul of irreps_node), not (E, 2l+1, channels).
        edge_feat = self.linear.forward_typed(edge_feat)
        node = [b.new_zeros(num_nodes, *b.shape[1:]).index_add(0, edges.dst, b) for b in edge_feat]
        return self.linear.flatten(node) / self.avg_num_neighbors

    def extra_repr(self) -> str:
        return f"{self.channels}x0e x {self.tp.irreps_sh} -> {self.linear.irreps_out}, avg_num_neighbors={self.avg_num_neighbors:.4g}"
