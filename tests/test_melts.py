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
