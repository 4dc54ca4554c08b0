"""The melt packer: chains at the asked density, no contact closer than allowed between chains
or with a chain's own images, reproducible by seed, a clear error when too dense; compression
moves chains whole to the target density."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule as ase_molecule

from equipot.data.melts import AMU_A3_PER_G_CM3, CONTACT, closest_contact, pack_chains
from equipot.dynamics.compress import CONTACT_FLOOR, compress
from equipot.errors import EquipotError


def chains(n: int = 6):
    """Butane and propanol, alternating: chains of two sizes and two heavy elements."""
    return [ase_molecule("trans-butane") if k % 2 else ase_molecule("CH3CH2OH") for k in range(n)]


def inter_chain_minimum(box) -> dict[str, float]:
    """Smallest minimum-image distance between atoms of different chains, by pair kind."""
    d = box.get_all_distances(mic=True)
    other = box.arrays["chain"][:, None] != box.arrays["chain"][None, :]
    heavy = box.numbers > 1
    kinds = {
        "heavy-heavy": heavy[:, None] & heavy[None, :],
        "heavy-H": heavy[:, None] ^ heavy[None, :],
        "H-H": ~heavy[:, None] & ~heavy[None, :],
    }
    return {k: d[other & mask].min() for k, mask in kinds.items()}


def test_density_contacts_and_seed():
    box = pack_chains(chains(), 0.5, seed=3)
    mass = box.get_masses().sum()
    assert mass * AMU_A3_PER_G_CM3 / box.get_volume() == pytest.approx(0.5, rel=1e-12)
    for kind, distance in inter_chain_minimum(box).items():
        assert distance >= CONTACT[kind] - 1e-9, kind
    # chains are whole and unchanged: every intra-chain distance as built
    start = 0
    for chain in chains():
        piece = box[start : start + len(chain)]
        np.testing.assert_allclose(piece.get_all_distances(), chain.get_all_distances(), atol=1e-10)
        start += len(chain)
    np.testing.assert_array_equal(pack_chains(chains(), 0.5, seed=3).positions, box.positions)
    assert not np.allclose(pack_chains(chains(), 0.5, seed=4).positions, box.positions)


def test_too_dense_is_a_clear_error():
    with pytest.raises(EquipotError, match="no room for chain"):
        pack_chains(chains(12), 1.6, seed=0, attempts=200)
    with pytest.raises(EquipotError, match="positive"):
        pack_chains(chains(), 0.0)


def test_compression_reaches_the_density_with_chains_whole():
    box = pack_chains(chains(), 0.3, seed=1)
    dense = compress(box, 0.55, steps_per_stage=0, factor=0.9)
    mass = dense.get_masses().sum()
    assert mass * AMU_A3_PER_G_CM3 / dense.get_volume() == pytest.approx(0.55, rel=1e-10)
    assert box.get_volume() > dense.get_volume()  # the box given is left as it was
    for k in np.unique(box.arrays["chain"]):
        mine = box.arrays["chain"] == k
        np.testing.assert_allclose(dense[mine].get_all_distances(), box[mine].get_all_distances(), atol=1e-10)
    with pytest.raises(EquipotError, match="calculator"):
        compress(box, 0.55)


def test_closest_contact_is_the_worst_pair_over_its_contact_distance():
    box = pack_chains(chains(), 0.5, seed=3)
    worst = min(d / CONTACT[kind] for kind, d in inter_chain_minimum(box).items())
    assert closest_contact(box) == pytest.approx(worst, rel=1e-12)
    assert closest_contact(box) >= 1 - 1e-9  # the packer keeps every contact


def test_compression_never_pushes_chains_onto_each_other(monkeypatch):
    """Without relaxation between stages, moving chains whole brings them closer and closer:
    compression goes as far as the contacts allow, then stops with a clear error where a fixed
    step would have put atoms of two chains nearly on top of each other."""
    box = pack_chains(chains(12), 0.4, seed=2)
    dense = compress(box, 0.55, steps_per_stage=0, factor=0.8)
    assert closest_contact(dense) >= CONTACT_FLOOR
    assert dense.get_masses().sum() * AMU_A3_PER_G_CM3 / dense.get_volume() == pytest.approx(0.55, rel=1e-10)
    with pytest.raises(EquipotError, match="stuck at 0.5"):
        compress(box, 0.7, steps_per_stage=0, factor=0.8)
    monkeypatch.setattr("equipot.dynamics.compress.CONTACT_FLOOR", 0.0)  # a fixed step, unchecked
    assert closest_contact(compress(box, 0.7, steps_per_stage=0, factor=0.8)) < 0.6


def test_molecules_and_contacts_are_found_across_the_boundary():
    """Chains are recovered from bonds alone, also with the box wrapped (chains cut by the cell
    faces), and the closest contacts per kind are the minimum-image ones."""
    from equipot.data.melts import MeltCheck, closest_contacts, molecule_ids

    box = pack_chains(chains(), 0.5, seed=3)
    wrapped = box.copy()
    wrapped.wrap()
    assert not np.allclose(wrapped.positions, box.positions)  # some chain crosses a face
    for frame in (box, wrapped):
        ids = molecule_ids(frame)
        # same partition as the packer's chain labels
        assert len(set(zip(ids, box.arrays["chain"]))) == len(set(ids)) == len(chains())
        got = closest_contacts(frame, box.arrays["chain"])
        for kind, distance in inter_chain_minimum(box).items():
            assert got[kind] == pytest.approx(distance, abs=1e-9)
        assert MeltCheck(box)(frame) is None


def test_melt_check_rejects_overlapping_chains_and_changed_bonds():
    """Two HCl molecules: hydrogens of the two at 1.0 Å, the chlorines at 1.8 Å (a bond made, as
    an MD model made Cl-Cl pairs in a PVC melt) and an H-Cl stretched to 2.5 Å (a bond broken)
    each fail the check, and the message names what; the pair at its ease passes."""
    from ase import Atoms

    from equipot.data.melts import MeltCheck

    def pair(h_a, cl_a, cl_b, h_b):
        positions = np.array([[h_a, 0, 0], [cl_a, 0, 0], [cl_b, 0, 0], [h_b, 0, 0]]) + 6.0
        return Atoms("HClClH", positions=positions, cell=np.eye(3) * 14.0, pbc=True)

    apart = pair(-1.27, 0.0, 4.0, 5.27)
    check = MeltCheck(apart)
    assert check(apart) is None and check.chain.tolist() == [0, 0, 1, 1]
    hydrogens_close = pair(1.27, 0.0, 3.27, 2.27)  # H1...H2 1.00 Å, Cl...H 2.27 Å
    assert check(hydrogens_close) == ("chains in contact closer than 0.85 of their contact distance: H-H 1.00 Å < 1.19")
    assert check(pair(-1.27, 0.0, 1.8, 3.07)) == "bonds made [Cl1-Cl2], broken []"
    assert check(pair(-2.5, 0.0, 4.0, 5.27)) == "bonds made [], broken [H0-Cl1]"
    assert MeltCheck(apart, floor=0.7)(hydrogens_close) is None  # 1.00 Å is above 0.7 x 1.4 Å


def test_build_melt_reaches_the_density_and_returns_the_check_of_its_chains():
    from equipot.data.melts import box_density
    from equipot.dynamics.compress import build_melt

    box, check = build_melt("pe", 0.45, None, chains=3, chain_atoms=20, loose_density=0.3, steps_per_stage=0, seed=2)
    assert box_density(box) == pytest.approx(0.45, rel=1e-9)
    assert len(box) == 3 * 20 and int(check.chain.max()) == 2  # three C6H14 chains
    assert check(box) is None
    # the check is of the chains as packed: one chain moved onto another fails it
    moved = box.copy()
    first, second = np.flatnonzero(check.chain == 0), np.flatnonzero(check.chain == 1)
    moved.positions[first] += moved.positions[second[0]] - moved.positions[first[0]] + 0.5
    assert "closer than" in check(moved) or "bonds made" in check(moved)
