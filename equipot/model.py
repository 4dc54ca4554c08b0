"""Equiformer: its configuration and the network of the paper (Liao & Smidt, ICLR 2023, Sec. 3).

The network maps species and edge vectors to per-atom energies and nothing else; species
mapping, reference energies, scale, repulsion, forces and stress are the potential's
(``equipot.potential.Potential``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from ase.data import atomic_numbers
from e3nn import o3
from torch import nn
from torch.utils.checkpoint import checkpoint

from equipot.config import Config, check_choice, check_range, setting
from equipot.errors import EquipotError
from equipot.nn.block import TransformerBlock
from equipot.nn.edges import Edges
from equipot.nn.embedding import AtomEmbedding, EdgeDegreeEmbedding
from equipot.nn.head import EnergyHead
from equipot.nn.radial import PolynomialEnvelope, radial_basis

# Named configurations. "md17" is the paper's MD17 L_max=2 model (Liao & Smidt, ICLR 2023)
# and the default; "small" trains and runs MD comfortably on a laptop CPU; "small16" is small
# with twice its L = 2 channels, the shape most shipped models use (docs/models.md); "medium"
# is wider and deeper, between small and md17.
_SMALL = dict(
    irreps_node="64x0e+16x1o+8x2e",
    num_blocks=3,
    num_heads=4,
    num_basis=16,
    radial_hidden=32,
    ffn_multiplier=2,
    output_hidden=64,
)
PRESETS: dict[str, dict[str, Any]] = {
    "md17": {},
    "small": _SMALL,
    "small16": {**_SMALL, "irreps_node": "64x0e+16x1o+16x2e"},
    "medium": dict(
        irreps_node="128x0e+32x1o+16x2e",
        num_blocks=4,
        num_heads=4,
        num_basis=16,
        radial_hidden=64,
        ffn_multiplier=2,
        output_hidden=64,
    ),
}


@dataclass
class EquiformerConfig(Config):
    """Architecture of an Equiformer potential; serialisable with ``to_dict``/``from_dict``.

    Every field is described where it is declared (``equipot train --help-config`` prints
    them). Notes:

    - ``irreps_node`` takes natural parity only (0e, 1o, 2e, 3o), so that the energy is
      invariant under reflections as well as rotations; every multiplicity must divide by
      ``num_heads``.
    - ``zbl_switch``: ZBL is switched off at this fraction of each pair's covalent-radius sum
      (``equipot.nn.repulsion``). At 0.7 it is off wherever molecular data goes; at 1.0 (MACE's
      choice) it reaches into compressed bonds and costs force accuracy (docs/accuracy.md).
    - The last four fields default to the paper's network; docs/accuracy.md measures the others.
    """

    what = "model config"

    species: list[str] = setting(
        help="element symbols the model knows, e.g. [H, C, N, O] (training sets them from the data)"
    )
    irreps_node: str = setting("128x0e+64x1o+32x2e", "node features (natural parity: 0e, 1o, 2e, 3o)")
    num_blocks: int = setting(6, "Transformer blocks")
    num_heads: int = setting(4, "attention heads; every multiplicity of irreps_node must divide by it")
    lmax: int | None = setting(None, "highest L of the edge spherical harmonics (default: that of irreps_node)")
    cutoff: float = setting(5.0, "radial cutoff, Å")
    radial_basis: str = setting("bessel", "bessel | gaussian")
    num_basis: int = setting(32, "radial basis functions")
    radial_hidden: int = setting(64, "width of the radial MLPs that make tensor-product weights")
    envelope_exponent: int = setting(6, "p of the polynomial cutoff envelope")
    ffn_multiplier: int = setting(3, "hidden width of the feed-forward networks, in units of irreps_node")
    output_hidden: int = setting(128, "scalar width of the energy head")
    avg_num_neighbors: float = setting(15.0, "normalises the edge-degree embedding (training sets it from the data)")
    zbl: bool = setting(True, "add ZBL nuclear repulsion (keeps atoms from folding onto each other in MD)")
    zbl_switch: float = setting(0.7, "ZBL switched off at this fraction of the covalent-radius sum of each pair")
    dispersion: str | None = setting(
        None,
        "D3(BJ) dispersion added to the energy, reaching past the cutoff: 'd3bj:FUNCTIONAL' "
        "(e.g. d3bj:pbe) or 'd3bj:s6=..,s8=..,a1=..,a2=..'; None: none (equipot.dispersion)",
    )
    residual_scale: float | None = setting(
        None,
        "None (the paper's blocks) or the initial value of learned "
        "per-channel gains on every residual branch (LayerScale)",
    )
    norm_high_l: bool = setting(True, "layer-normalise L>0 features too (the paper's); False: scalars only")
    learned_null: bool = setting(False, "learn the logit of the attention's null neighbour per head (else 0)")
    subtract_isolated: bool = setting(
        True,
        "read out h(x_i) - h(isolated atom of its species), so an isolated "
        "atom's energy is its reference energy exactly",
    )

    def __post_init__(self) -> None:
        self.check_types()
        self.species = list(self.species)
        if not self.species:
            raise EquipotError("species must list at least one element, e.g. ['H', 'C', 'O']")
        unknown = [s for s in self.species if s not in atomic_numbers or s == "X"]
        if unknown:
            raise EquipotError(f"unknown element symbols in species: {unknown}")
        if len(set(self.species)) != len(self.species):
            raise EquipotError(f"species has duplicates: {self.species}")
        irreps = o3.Irreps(self.irreps_node)
        wrong_parity = [str(ir) for _, ir in irreps if ir.p != (-1) ** ir.l]
        if wrong_parity:
            raise EquipotError(
                f"irreps_node {self.irreps_node} has {wrong_parity}: use natural parity "
                "(0e, 1o, 2e, 3o) so vectors are 1o and the energy is E(3)-invariant"
            )
        if "0e" not in [str(ir) for _, ir in irreps]:
            raise EquipotError("irreps_node needs scalar (0e) channels")
        if self.lmax is None:
            self.lmax = irreps.lmax
        if not 1 <= self.lmax <= 3:
            raise EquipotError(f"lmax must be 1, 2 or 3, got {self.lmax}")
        if self.cutoff <= 0 or self.num_blocks < 1 or self.num_heads < 1:
            raise EquipotError("cutoff, num_blocks and num_heads must be positive")
        check_choice("model config 'radial_basis'", self.radial_basis, ("bessel", "gaussian"))
        for key in ("num_basis", "radial_hidden", "envelope_exponent", "ffn_multiplier", "output_hidden"):
            check_range(f"model config {key!r}", getattr(self, key), 1)
        check_range("model config 'zbl_switch'", self.zbl_switch, 0, low_open=True)
        check_range("model config 'residual_scale'", self.residual_scale, 0, low_open=True)
        if self.dispersion is not None:
            from equipot.dispersion import D3BJ

            self.dispersion = str(D3BJ.from_spec(self.dispersion))  # one spelling in the checkpoint

    @classmethod
    def preset(cls, name: str, species: list[str], **overrides: Any) -> "EquiformerConfig":
        """A named configuration ("md17" = the paper's, "small" = CPU) with overrides."""
        if name not in PRESETS:
            raise EquipotError(f"unknown preset {name!r}; available: {sorted(PRESETS)}")
        return cls(**cls.known({**PRESETS[name], **overrides, "species": list(species)}))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EquiformerConfig":
        data = dict(data)
        # a checkpoint written before zbl_switch existed was trained with the switch at 1.0
        data.setdefault("zbl_switch", 1.0)
        # older checkpoints carry an always-empty "extra" field
        if data.pop("extra", None):
            raise EquipotError("EquiformerConfig has no 'extra' settings; this checkpoint needs a newer equipot")
        return super().from_dict(data)


class Equiformer(nn.Module):
    """Equivariant graph attention Transformer: per-atom energies from species and edge vectors.

    Embeddings give each atom scalar features from its species and first L>0 features from
    its neighbours; ``num_blocks`` pre-norm Transformer blocks of equivariant graph attention
    (Sec. 3.3) and feed-forward networks update them; the head reads the scalars of each atom
    (the overall architecture, Sec. 3.4). The output is h(x_i) - h(x_i^isolated): the read-out
    minus that of the same species with no neighbours, so an isolated atom has exactly zero
    (its energy is the potential's reference energy); ``subtract_isolated=False`` reads out
    h(x_i) alone.

    Shapes: species (N,) model species indices, vectors (E, 3) r_j - r_i of edges j -> i,
            edge_index (2, E) [src j, dst i] -> (N,)
    """

    def __init__(self, config: EquiformerConfig) -> None:
        super().__init__()
        self.config = c = config
        irreps_node = o3.Irreps(c.irreps_node)
        self.irreps_sh = o3.Irreps.spherical_harmonics(c.lmax)
        self.spherical_harmonics = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        self.num_species = len(c.species)
        self.basis = radial_basis(c.radial_basis, c.cutoff, c.num_basis)
        self.envelope = PolynomialEnvelope(c.cutoff, c.envelope_exponent)
        self.atom_embedding = AtomEmbedding(self.num_species, irreps_node)
        self.edge_embedding = EdgeDegreeEmbedding(
            irreps_node, self.irreps_sh, c.num_basis, c.radial_hidden, c.avg_num_neighbors
        )
        # the head reads scalars only, so the last block's values need only the paths to 0e
        self.blocks = nn.ModuleList(
            TransformerBlock(
                irreps_node,
                self.irreps_sh,
                c.num_heads,
                c.num_basis,
                c.radial_hidden,
                c.ffn_multiplier,
                scalars_only=(k == c.num_blocks - 1),
                residual_scale=c.residual_scale,
                norm_high_l=c.norm_high_l,
                learned_null=c.learned_null,
            )
            for k in range(c.num_blocks)
        )
        self.head = EnergyHead(irreps_node, c.output_hidden)

    def edges(self, vectors: torch.Tensor, edge_index: torch.Tensor) -> Edges:
        """Harmonics, radial basis and envelope of each edge. vectors (E, 3), edge_index (2, E)."""
        lengths = vectors.norm(dim=-1)
        return Edges(
            edge_index[0], edge_index[1], self.spherical_harmonics(vectors), self.basis(lengths), self.envelope(lengths)
        )

    def forward(
        self,
        species: torch.Tensor,
        vectors: torch.Tensor,
        edge_index: torch.Tensor,
        edge_chunk_size: int | None = None,
        checkpoint_blocks: bool = False,
        exchange: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per-atom energies (N,), in units of the potential's scale.

        ``edge_chunk_size`` and ``checkpoint_blocks`` trade time for memory on large systems
        (attention over runs of edges, blocks recomputed in the backward pass); they change
        no number. ``exchange`` (node features (N', D) -> (N', D), N' >= N) is applied before
        every block: an engine that splits atoms over processes uses it to give ghost atoms
        the features their owners computed (``equipot.lammps.bridge``).
        """
        edges = self.edges(vectors, edge_index)
        num_atoms = species.shape[0]
        # One extra node per species with no edges: its read-out is the isolated-atom term.
        extra = self.num_species if self.config.subtract_isolated else 0
        all_species = torch.cat([species, torch.arange(extra, device=species.device)])
        x = self.atom_embedding(all_species, vectors.dtype)
        x = x + self.edge_embedding(edges, num_atoms + extra)
        for block in self.blocks:
            if exchange is not None:
                x = exchange(x)
            if checkpoint_blocks and torch.is_grad_enabled():
                # recompute each block's activations in the backward pass instead of keeping them
                x = checkpoint(block, x, edges, edge_chunk_size, use_reentrant=False)
            else:
                x = block(x, edges, edge_chunk_size)
        h = self.head(x)
        return h[:num_atoms] - h[num_atoms:][species] if extra else h

    def extra_repr(self) -> str:
        c = self.config
        return f"species={c.species}, cutoff={c.cutoff}, lmax={c.lmax}, blocks={c.num_blocks}"

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
