"""Equiformer energy model: configuration and the network; forces and stress by autograd."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from ase.data import atomic_numbers, chemical_symbols
from e3nn import o3
from torch import nn
from torch.utils.checkpoint import checkpoint

from equipot.data.graph import AtomicGraph
from equipot.nn.block import TransformerBlock
from equipot.nn.embedding import AtomEmbedding, EdgeDegreeEmbedding
from equipot.nn.head import EnergyHead
from equipot.nn.radial import PolynomialEnvelope, radial_basis
from equipot.nn.repulsion import ZBLRepulsion

# Named configurations. "md17" is the paper's MD17 L_max=2 model (Liao & Smidt, ICLR 2023)
# and the default; "small" trains and runs MD comfortably on a laptop CPU; "medium" in between.
PRESETS: dict[str, dict[str, Any]] = {
    "md17": {},
    "small": dict(
        irreps_node="64x0e+16x1o+8x2e",
        num_blocks=3,
        num_heads=4,
        num_basis=16,
        radial_hidden=32,
        ffn_multiplier=2,
        output_hidden=64,
    ),
    # between the two: the shipped models (trains in minutes on a GPU, runs MD on a CPU faster
    # than MACE 128x0e+128x1o)
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
class EquiformerConfig:
    """Architecture of an Equiformer potential; serialisable with ``to_dict``/``from_dict``.

    Attributes:
        species: element symbols the model knows, e.g. ["H", "C", "N", "O"].
        irreps_node: node features; only natural parity (0e, 1o, 2e, 3o) so that the energy
            is invariant under reflections as well as rotations.
        num_blocks: Transformer blocks.
        num_heads: attention heads; every multiplicity of irreps_node must divide by it.
        lmax: highest L of the edge spherical harmonics; default the highest L of irreps_node.
        cutoff: radial cutoff, Å.
        radial_basis: "bessel" or "gaussian"; num_basis functions of it.
        radial_hidden: width of the radial MLPs that make tensor-product weights.
        envelope_exponent: p of the polynomial cutoff envelope.
        ffn_multiplier: hidden width of the feed-forward networks, in units of irreps_node.
        output_hidden: scalar width of the energy head.
        avg_num_neighbors: normalises the edge-degree embedding; the trainer sets it from data.
        zbl: add ZBL nuclear repulsion, switched off at covalent-radius sums (see
            ``equipot.nn.repulsion``): keeps atoms from folding onto each other in MD.
    """

    species: list[str]
    irreps_node: str = "128x0e+64x1o+32x2e"
    num_blocks: int = 6
    num_heads: int = 4
    lmax: int | None = None
    cutoff: float = 5.0
    radial_basis: str = "bessel"
    num_basis: int = 32
    radial_hidden: int = 64
    envelope_exponent: int = 6
    ffn_multiplier: int = 3
    output_hidden: int = 128
    avg_num_neighbors: float = 15.0
    zbl: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.species = list(self.species)
        if not self.species:
            raise ValueError("species must list at least one element, e.g. ['H', 'C', 'O']")
        unknown = [s for s in self.species if s not in atomic_numbers or s == "X"]
        if unknown:
            raise ValueError(f"unknown element symbols in species: {unknown}")
        if len(set(self.species)) != len(self.species):
            raise ValueError(f"species has duplicates: {self.species}")
        irreps = o3.Irreps(self.irreps_node)
        wrong_parity = [str(ir) for _, ir in irreps if ir.p != (-1) ** ir.l]
        if wrong_parity:
            raise ValueError(
                f"irreps_node {self.irreps_node} has {wrong_parity}: use natural parity "
                "(0e, 1o, 2e, 3o) so vectors are 1o and the energy is E(3)-invariant"
            )
        if "0e" not in [str(ir) for _, ir in irreps]:
            raise ValueError("irreps_node needs scalar (0e) channels")
        if self.lmax is None:
            self.lmax = irreps.lmax
        if not 1 <= self.lmax <= 3:
            raise ValueError(f"lmax must be 1, 2 or 3, got {self.lmax}")
        if self.cutoff <= 0 or self.num_blocks < 1 or self.num_heads < 1:
            raise ValueError("cutoff, num_blocks and num_heads must be positive")

    @classmethod
    def preset(cls, name: str, species: list[str], **overrides: Any) -> "EquiformerConfig":
        """A named configuration ("md17" = the paper's, "small" = CPU) with overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; available: {sorted(PRESETS)}")
        return cls(species=species, **{**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EquiformerConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown EquiformerConfig fields: {sorted(unknown)}")
        return cls(**data)


class Equiformer(nn.Module):
    """Equivariant graph attention Transformer predicting the energy of atomic structures.

    Per-atom energy: E_i = E0[z_i] + scale * (h(x_i) - h(x_i^isolated)) [+ ZBL_i], where h is the
    read-out of the final node features and x^isolated the features the same species has
    with no neighbours. The subtraction makes E0 exactly the energy of an isolated atom
    (no separate shift is needed: it would be absorbed in E0). The total energy is the sum;
    forces are -dE/dx and stress (1/V) dE/d(strain), both by autograd.
    """

    def __init__(self, config: EquiformerConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        irreps_node = o3.Irreps(c.irreps_node)
        self.irreps_sh = o3.Irreps.spherical_harmonics(c.lmax)
        self.spherical_harmonics = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        num_species = len(c.species)

        z_to_index = torch.full((len(chemical_symbols),), -1, dtype=torch.long)
        for i, symbol in enumerate(c.species):
            z_to_index[atomic_numbers[symbol]] = i
        self.register_buffer("z_to_index", z_to_index)
        self.register_buffer("reference_energies", torch.zeros(num_species))
        self.register_buffer("scale", torch.ones(()))

        self.basis = radial_basis(c.radial_basis, c.cutoff, c.num_basis)
        self.envelope = PolynomialEnvelope(c.cutoff, c.envelope_exponent)
        self.atom_embedding = AtomEmbedding(num_species, irreps_node)
        self.edge_embedding = EdgeDegreeEmbedding(
            irreps_node, self.irreps_sh, c.num_basis, c.radial_hidden, c.avg_num_neighbors
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(
                irreps_node, self.irreps_sh, c.num_heads, c.num_basis, c.radial_hidden,
                c.ffn_multiplier,
            )
            for _ in range(c.num_blocks)
        )
        # The head reads scalars only, so the last layer's values need only the paths to 0e
        # (exactly the same energy; GraphAttention.scalars_only).
        self.blocks[-1].attention.scalars_only = True
        self.head = EnergyHead(irreps_node, c.output_hidden)
        self.repulsion = ZBLRepulsion(c.species, c.envelope_exponent) if c.zbl else None
        # Activation checkpointing of the Transformer blocks: a run-time memory/time trade
        # (about 3x less memory on large systems for ~30% more time), not part of the model.
        self.checkpoint_blocks = False
        self._compiled_node_energies = None

    def compile_inference(self) -> None:
        """Compile the energy network with ``torch.compile`` (inductor) for MD and inference.

        About 1.4x faster force calls for aspirin on a 2-core CPU in float32
        (``python bench/compile_speedup.py``). The first call compiles: minutes on 2 cores,
        a minute or two when inductor's on-disk cache is warm; shapes are dynamic, so edges
        changing during MD do not recompile. Needs a C++ compiler on CPU. Calls with
        ``create_graph=True`` (force training) keep the eager network: they need double
        backward, which compiled graphs do not support.
        """
        self._compiled_node_energies = torch.compile(self.node_energies, dynamic=True)

    @property
    def edge_chunk_size(self) -> int | None:
        """Attend over about this many edges at a time, recomputing them in the backward pass.

        A run-time memory trade for large systems (``None``, the default: all edges at once);
        results are unchanged. 20,000 takes a 1,008-atom polymer box from 6.5 to 1.9 GB and
        is faster on CPU, not slower (``python bench/scaling.py --edge-chunk 20000``).
        """
        return self.blocks[0].attention.edge_chunk_size  # the config guarantees a block

    @edge_chunk_size.setter
    def edge_chunk_size(self, size: int | None) -> None:
        if size is not None and int(size) < 1:
            raise ValueError(f"edge_chunk_size must be a positive number of edges or None, got {size}")
        for block in self.blocks:
            block.attention.edge_chunk_size = None if size is None else int(size)

    @property
    def species(self) -> list[str]:
        return list(self.config.species)

    @property
    def cutoff(self) -> float:
        return float(self.config.cutoff)

    def species_index(self, numbers: torch.Tensor) -> torch.Tensor:
        """Atomic numbers (N,) -> model species indices (N,); ValueError for unknown elements."""
        numbers = numbers.to(self.z_to_index.device)
        out_of_range = (numbers < 1) | (numbers >= len(chemical_symbols))
        index = self.z_to_index[numbers.clamp(0, len(chemical_symbols) - 1)]
        if bool((out_of_range | (index < 0)).any()):
            bad = sorted({int(z) for z in numbers[out_of_range | (index < 0)].tolist()})
            names = [chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}" for z in bad]
            raise ValueError(
                f"this model knows {self.species}; the structure contains {names}, "
                "which it was not trained on"
            )
        return index

    def set_reference_energies(self, energies: dict[str, float]) -> None:
        """Set E0 (eV) per element symbol; elements not listed keep their value."""
        for symbol, value in energies.items():
            if symbol not in self.config.species:
                raise ValueError(f"{symbol} is not one of the model species {self.species}")
            self.reference_energies[self.config.species.index(symbol)] = float(value)

    def forward(
        self,
        graph: AtomicGraph,
        compute_forces: bool = True,
        compute_stress: bool = False,
        create_graph: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Energies, and forces/stress by autograd.

        Args:
            graph: atoms and edges; positions in the model's dtype and device.
            compute_forces: also return forces (N, 3), eV/Å.
            compute_stress: also return stress (B, 3, 3), eV/Å^3 (periodic structures).
            create_graph: keep the graph of the derivatives (training on forces).

        Returns:
            dict with "energy" (B,), "node_energy" (N,), and "forces"/"stress" if asked.
        """
        species = self.species_index(graph.numbers)
        positions = graph.positions
        cell = graph.cell
        inputs = []
        if compute_forces or compute_stress:
            positions = positions.detach().requires_grad_(True)
            inputs.append(positions)
        if compute_stress:
            # Differentiate with respect to a symmetric strain applied to atoms and cell.
            strain = torch.zeros_like(cell, requires_grad=True)
            inputs.append(strain)
            sym = 0.5 * (strain + strain.transpose(1, 2))
            positions = positions + torch.einsum("ni,nij->nj", positions, sym[graph.batch])
            cell = cell + torch.bmm(cell, sym)

        compiled = self._compiled_node_energies
        node_energies = compiled if compiled is not None and not create_graph else self.node_energies
        node_energy = node_energies(species, positions, cell, graph)
        energy = node_energy.new_zeros(graph.num_graphs).index_add(0, graph.batch, node_energy)
        out = {"energy": energy, "node_energy": node_energy}
        if inputs:
            grads = torch.autograd.grad(
                energy.sum(), inputs, create_graph=create_graph, allow_unused=True
            )
            if compute_forces:
                g = grads[0]
                out["forces"] = -g if g is not None else torch.zeros_like(positions)
            if compute_stress:
                g = grads[-1] if grads[-1] is not None else torch.zeros_like(cell)
                volume = torch.linalg.det(graph.cell).abs()
                out["stress"] = g / volume.view(-1, 1, 1)
        return out

    def node_energies(
        self,
        species: torch.Tensor,
        positions: torch.Tensor,
        cell: torch.Tensor,
        graph: AtomicGraph,
    ) -> torch.Tensor:
        """Per-atom energies (N,), eV."""
        src, dst = graph.edge_index
        vectors = positions.index_select(0, src) - positions.index_select(0, dst)
        if graph.shifts.shape[0]:
            vectors = vectors + torch.einsum("ei,eij->ej", graph.shifts, cell.index_select(0, graph.batch.index_select(0, src)))
        lengths = vectors.norm(dim=-1)
        sh = self.spherical_harmonics(vectors)
        basis = self.basis(lengths)
        env = self.envelope(lengths)

        num_atoms = species.shape[0]
        num_species = len(self.config.species)
        dtype = positions.dtype
        # One extra node per species with no edges: its read-out is the isolated-atom term.
        all_species = torch.cat([species, torch.arange(num_species, device=species.device)])
        x = self.atom_embedding(all_species, dtype)
        x = x + self.edge_embedding(sh, basis, env, dst, num_atoms + num_species)
        for block in self.blocks:
            if self.checkpoint_blocks and torch.is_grad_enabled():
                # Recompute each block's activations during the backward pass instead of
                # keeping them: edge features dominate memory on large systems.
                x = checkpoint(block, x, src, dst, sh, basis, env, use_reentrant=False)
            else:
                x = block(x, src, dst, sh, basis, env)
        h = self.head(x)
        interaction = h[:num_atoms] - h[num_atoms:][species]
        energy = self.reference_energies[species] + self.scale * interaction
        if self.repulsion is not None:
            energy = energy + self.repulsion(species, src, dst, lengths, num_atoms)
        return energy

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
