"""Radial parts of an edge: basis functions, the smooth cutoff envelope, the radial MLP.

The envelope is the one deliberate change from the Equiformer paper: it scales every
tensor-product message (the same as scaling its radial weights) and every attention weight,
so that a neighbour crossing the cutoff enters with weight exactly zero and energy and forces
stay continuous during MD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from equipot.errors import EquipotError


def polynomial_envelope(d: torch.Tensor, p: int) -> torch.Tensor:
    """u(d) = 1 - (p+1)(p+2)/2 d^p + p(p+2) d^(p+1) - p(p+1)/2 d^(p+2) for d < 1, else 0.

    u(1) = u'(1) = u''(1) = 0 (Klicpera et al., DimeNet), so forces built on it are
    continuous, with continuous derivatives, where it switches off.
    """
    u = 1.0 - 0.5 * (p + 1) * (p + 2) * d.pow(p) + p * (p + 2) * d.pow(p + 1) - 0.5 * p * (p + 1) * d.pow(p + 2)
    # The polynomial is not zero beyond d = 1, so mask it; the mask has zero gradient.
    return u * (d < 1.0).to(d.dtype)


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff u(r / cutoff), exactly 0 for r >= cutoff (see ``polynomial_envelope``).

    Shapes: r (E,) -> (E,)
    """

    def __init__(self, cutoff: float, exponent: int = 6) -> None:
        super().__init__()
        if cutoff <= 0:
            raise EquipotError(f"cutoff must be positive, got {cutoff}")
        if exponent < 2:
            raise EquipotError(f"envelope exponent must be >= 2 for smooth forces, got {exponent}")
        self.cutoff = float(cutoff)
        self.p = int(exponent)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, p={self.p}"

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return polynomial_envelope(r / self.cutoff, self.p)


class BesselBasis(nn.Module):
    """Radial Bessel functions sqrt(2/c) sin(n pi r / c) / r, n = 1..num_basis.

    Frequencies are trainable, as in NequIP. Shapes: r (E,) -> (E, num_basis)
    """

    def __init__(self, cutoff: float, num_basis: int = 8, trainable: bool = True) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.num_basis = int(num_basis)
        freq = math.pi * torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype())
        self.freq = nn.Parameter(freq, requires_grad=trainable)
        self.prefactor = math.sqrt(2.0 / cutoff)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, num_basis={self.num_basis}"

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        # r > 0 for every edge (self-pairs are never edges), so the 1/r is safe.
        x = r.unsqueeze(-1) / self.cutoff
        return self.prefactor * torch.sin(self.freq * x) / r.unsqueeze(-1)


class GaussianBasis(nn.Module):
    """Gaussians exp(-(r - mu_k)^2 / (2 w^2)) on an even grid in [0, cutoff].

    Shapes: r (E,) -> (E, num_basis)
    """

    def __init__(self, cutoff: float, num_basis: int = 32) -> None:
        super().__init__()
        self.num_basis = int(num_basis)
        self.register_buffer("centers", torch.linspace(0.0, cutoff, num_basis))
        self.width = cutoff / max(num_basis - 1, 1)

    def extra_repr(self) -> str:
        return f"num_basis={self.num_basis}, width={self.width:.4g}"

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((r.unsqueeze(-1) - self.centers) / self.width) ** 2)


def radial_basis(kind: str, cutoff: float, num_basis: int) -> nn.Module:
    """Build the radial basis named in the config ("bessel" or "gaussian")."""
    if kind == "bessel":
        return BesselBasis(cutoff, num_basis)
    if kind == "gaussian":
        return GaussianBasis(cutoff, num_basis)
    raise EquipotError(f"unknown radial basis {kind!r}; choose 'bessel' or 'gaussian'")


class RadialMLP(nn.Module):
    """MLP mapping the radial basis of each edge to tensor-product weights.

    The last layer's output comes in pieces, one per path of the tensor product it feeds
    (``DepthwiseTensorProduct.weight_sizes``), each from its own rows of the last weight:
    splitting one wide output instead would cost an (E, sum(sizes)) concatenation in the
    backward pass.

    Shapes: (E, num_basis) -> [(E, size) for size in sizes]
    """

    def __init__(self, num_basis: int, hidden: int, sizes: Sequence[int], num_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = num_basis
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.SiLU()]
            width = hidden
        self.sizes = [int(n) for n in sizes]
        layers.append(nn.Linear(width, sum(self.sizes)))
        self.net = nn.Sequential(*layers)

    def __repr__(self) -> str:
        widths = [m.in_features for m in self.net if isinstance(m, nn.Linear)]
        return (
            f"{type(self).__name__}({' -> '.join(map(str, widths))} -> {sum(self.sizes)} in {len(self.sizes)} pieces)"
        )

    def forward(self, basis: torch.Tensor, only: Sequence[int] | None = None) -> list[torch.Tensor | None]:
        """``only``: compute just these pieces (the others are None)."""
        hidden = self.net[:-1](basis)
        last = self.net[-1]
        pieces = zip(last.weight.split(self.sizes), last.bias.split(self.sizes))
        return [
            nn.functional.linear(hidden, w, b) if only is None or p in only else None for p, (w, b) in enumerate(pieces)
        ]
