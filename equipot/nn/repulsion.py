"""Short-range nuclear repulsion (ZBL) under the learned energy."""

from __future__ import annotations

import torch
from ase.data import atomic_numbers, covalent_radii
from torch import nn

from equipot.errors import EquipotError
from equipot.nn.radial import polynomial_envelope

# Ziegler-Biersack-Littmark universal screening function phi(x) = sum c_k exp(-d_k x)
_ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
_ZBL_D = (3.19980, 0.94229, 0.40290, 0.20162)
_COULOMB = 14.399645  # e^2 / (4 pi eps0), eV Å
_ZBL_LENGTH = 0.46850  # 0.8854 * Bohr radius, Å


class ZBLRepulsion(nn.Module):
    """Screened Coulomb repulsion of the nuclei, on only inside bonding distance.

    Each pair gets the ZBL energy times a polynomial switch that goes smoothly to zero at
    ``switch`` times the sum of the two covalent radii, so it acts only when atoms are pushed
    closer than a bond: trained models cannot fold atoms onto each other in MD, where training
    data never goes. At ``switch`` = 1 (MACE's choice) the switch still reaches into thermally
    compressed bonds (a C-H bond at 500 K), and the network must learn to cancel it; below
    about 0.8 it is off wherever molecular data goes.

    Shapes: species (N,), edge_src/edge_dst (E,), lengths (E,) -> per-atom energy (N,), eV
    """

    def __init__(self, species: list[str], exponent: int = 6, switch: float = 0.7) -> None:
        super().__init__()
        if not 0 < switch <= 2:
            raise EquipotError(f"ZBL switch must be a fraction of the covalent-radius sum in (0, 2], got {switch}")
        self.switch = float(switch)
        z = [atomic_numbers[s] for s in species]
        self.register_buffer("z", torch.tensor(z, dtype=torch.get_default_dtype()))
        self.register_buffer("r_cov", torch.tensor([covalent_radii[n] for n in z], dtype=torch.get_default_dtype()))
        self.p = exponent

    def extra_repr(self) -> str:
        return f"switch off at {self.switch} x covalent-radius sum, p={self.p}"

    def forward(
        self,
        species: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        lengths: torch.Tensor,
        num_nodes: int,
    ) -> torch.Tensor:
        zi, zj = self.z[species[edge_dst]], self.z[species[edge_src]]
        screening_length = _ZBL_LENGTH / (zi.pow(0.23) + zj.pow(0.23))
        x = lengths / screening_length
        phi = sum(c * torch.exp(-d * x) for c, d in zip(_ZBL_C, _ZBL_D))
        r_off = self.switch * (self.r_cov[species[edge_dst]] + self.r_cov[species[edge_src]])
        switch = polynomial_envelope(lengths / r_off, self.p)
        # Every pair appears as two edges: give each atom half of the pair energy.
        pair = 0.5 * _COULOMB * zi * zj / lengths * phi * switch
        return lengths.new_zeros(num_nodes).index_add(0, edge_dst, pair)
