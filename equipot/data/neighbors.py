"""Radius-graph neighbour lists.

Convention used everywhere in equipot: an edge (src, dst) carries the message from atom
``src`` to atom ``dst``, and its vector is

    r_ij = positions[src] - positions[dst] + shifts @ cell

with ``shifts`` integer lattice translations (zero for molecules). Every pair within the
cutoff appears in both directions; an atom is never its own neighbour unless a periodic
image of it is (small cells).
"""

from __future__ import annotations

import numpy as np
import torch

from equipot.errors import EquipotError, StructureError


def _check_positions(positions: np.ndarray) -> None:
    if not np.all(np.isfinite(positions)):
        bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
        raise StructureError(f"positions contain NaN or inf (atoms {bad[:10].tolist()})")


# A periodic cell thinner than this along a periodic direction puts every atom on its own
# images, and makes the image search explode: such a cell is an input error.
MIN_CELL_WIDTH = 0.5


def _thinnest(cell: np.ndarray, pbc: np.ndarray) -> float:
    """The smallest distance between lattice planes along the periodic directions, Å."""
    volume = abs(np.linalg.det(cell))
    widths = [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3) if pbc[i]]
    return min(widths)


def neighbor_list(
    positions: np.ndarray,
    cutoff: float,
    cell: np.ndarray | None = None,
    pbc: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs closer than ``cutoff`` (matscipy, O(N)), for molecules or periodic cells.

    Args:
        positions: (N, 3) Å.
        cutoff: Å.
        cell: (3, 3) lattice vectors as rows, or None for a molecule.
        pbc: (3,) periodicity per lattice vector, or None for a molecule.

    Returns:
        (src, dst, shifts): int64 (E,), int64 (E,), float (E, 3) lattice translations.
    """
    from matscipy.neighbours import neighbour_list as _matscipy_neighbour_list

    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise EquipotError(f"positions must have shape (N, 3), got {positions.shape}")
    _check_positions(positions)
    pbc = np.zeros(3, dtype=bool) if pbc is None else np.asarray(pbc, dtype=bool).reshape(3)
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3)
    if len(positions) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, 3))

    if not pbc.any():
        # matscipy bins atoms inside a cell; give a molecule a box that holds it with room.
        lo = positions.min(axis=0)
        positions = positions - lo + cutoff
        cell = np.diag(positions.max(axis=0) + cutoff)
    elif abs(np.linalg.det(cell)) < 1e-12:
        raise StructureError(
            "periodic system has a degenerate cell (zero volume); give every lattice vector "
            "a non-zero length, including along non-periodic directions"
        )
    elif (width := _thinnest(cell, pbc)) < MIN_CELL_WIDTH:
        raise StructureError(
            f"periodic cell too small: {width:.3g} Å thick along a periodic "
            f"direction (at least {MIN_CELL_WIDTH} Å); check the cell's units and vectors"
        )
    i, j, shifts = _matscipy_neighbour_list("ijS", positions=positions, cutoff=float(cutoff), cell=cell, pbc=pbc)
    # matscipy: D = positions[j] - positions[i] + S @ cell, i.e. j sends to i.
    return j.astype(np.int64), i.astype(np.int64), shifts.astype(np.float64)


def check_structure(
    positions: np.ndarray, cell: np.ndarray | None = None, pbc: np.ndarray | None = None, min_distance: float = 0.3
) -> None:
    """``StructureError`` unless every position is finite, a periodic cell has volume, and no
    two atoms (periodic images included) are closer than ``min_distance`` Å: the inputs no
    potential can evaluate. The shortest real bond, H-H, is 0.74 Å."""
    src, dst, shifts = neighbor_list(positions, min_distance, cell, pbc)
    if len(src):
        pairs = ", ".join(f"{int(i)}-{int(j)}" for i, j in zip(src[:5], dst[:5]))
        raise StructureError(f"atoms closer than {min_distance} Å (on top of each other): pairs {pairs}")


def radius_graph(
    positions: torch.Tensor,
    cutoff: float,
    batch: torch.Tensor | None = None,
    max_num_neighbors: int = 1000,
    use_torch_cluster: bool | None = None,
) -> torch.Tensor:
    """Edges between atoms of the same molecule closer than ``cutoff``, on the tensors' device.

    For batches of isolated molecules (no periodic images). Uses torch-cluster's
    ``radius_graph`` when installed (``pip install equipot[cluster]``), else a pure-torch
    version that returns the same set of edges.

    Args:
        positions: (N, 3).
        batch: (N,) molecule index of each atom, sorted; None for one molecule.
        use_torch_cluster: force (True) or forbid (False) torch-cluster; None = if installed.

    Returns:
        edge_index (2, E) int64 as (src, dst), both directions of each pair.
    """
    if batch is None:
        batch = torch.zeros(positions.shape[0], dtype=torch.long, device=positions.device)
    if use_torch_cluster is None:
        use_torch_cluster = has_torch_cluster()
    if use_torch_cluster:
        import torch_cluster

        # torch-cluster returns (source, target) with flow source -> target.
        return torch_cluster.radius_graph(
            positions, r=cutoff, batch=batch, loop=False, max_num_neighbors=max_num_neighbors
        )
    return _radius_graph_torch(positions, cutoff, batch)


def has_torch_cluster() -> bool:
    try:
        import torch_cluster  # noqa: F401
    except ImportError:
        return False
    return True


def _radius_graph_torch(positions: torch.Tensor, cutoff: float, batch: torch.Tensor) -> torch.Tensor:
    """Dense per-molecule distance matrices: O(n^2) per molecule, fine for molecules.

    Molecules of equal size (replicas) are done in one batched call.
    """
    counts = torch.bincount(batch)
    sizes = counts.tolist()
    if len(set(sizes)) == 1:
        n = sizes[0]
        pos = positions.reshape(len(sizes), n, 3)
        close = torch.cdist(pos, pos) < cutoff
        close &= ~torch.eye(n, dtype=torch.bool, device=positions.device)
        mol, dst, src = torch.nonzero(close, as_tuple=True)
        return torch.stack([src, dst]) + mol * n
    starts = torch.cumsum(counts, 0) - counts
    edges = []
    for start, n in zip(starts.tolist(), sizes):
        if n < 2:
            continue
        pos = positions[start : start + n]
        close = (torch.cdist(pos, pos) < cutoff) & ~torch.eye(n, dtype=torch.bool, device=pos.device)
        dst, src = torch.nonzero(close, as_tuple=True)
        edges.append(torch.stack([src, dst]) + start)
    if not edges:
        return torch.zeros(2, 0, dtype=torch.long, device=positions.device)
    return torch.cat(edges, dim=1)


class VerletNeighbors:
    """Pairs within ``cutoff``, from a list built at ``cutoff + skin`` and kept between calls.

    The list is rebuilt when the caller says the structure changed (other atoms, cell or
    periodicity) or when an atom has moved more than skin/2 since the last build: until then
    no pair can have come from beyond cutoff + skin to within the cutoff. Each call returns
    the pairs of the kept list that are within the cutoff now. Serves the ASE calculator
    (one structure, matscipy lists) and batched replicas (many molecules, radius graphs).

    Shapes: positions (N, 3) -> edge_index (2, E), shifts (E, 3) (lattice translations)
    """

    def __init__(self, cutoff: float, skin: float) -> None:
        if skin < 0:
            raise EquipotError(f"skin must be >= 0, got {skin}")
        self.cutoff, self.skin = float(cutoff), float(skin)
        self._positions: torch.Tensor | None = None
        self._edges: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def __call__(self, positions: torch.Tensor, build, changed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``build(cutoff)`` -> (edge_index (2, E), shifts (E, 3), shift vectors shifts @ cell (E, 3))
        makes a list at the given cutoff; ``changed`` forces a rebuild."""
        stale = (
            changed
            or self._positions is None
            or self._positions.shape != positions.shape
            or bool((positions - self._positions).norm(dim=-1).max() > 0.5 * self.skin)
        )
        if stale:
            self._edges = build(self.cutoff + self.skin)
            self._positions = positions.detach().clone()
        edge_index, shifts, shift_vectors = self._edges
        if self.skin == 0 or edge_index.shape[1] == 0:
            return edge_index, shifts
        src, dst = edge_index
        vectors = positions.index_select(0, src) - positions.index_select(0, dst) + shift_vectors
        keep = (vectors * vectors).sum(-1) < self.cutoff**2
        return edge_index[:, keep], shifts[keep]
