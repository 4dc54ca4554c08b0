"""Shared fixtures: small random-weight models (fast on CPU) and test structures."""

from __future__ import annotations

import os
import tempfile
from importlib import resources

import numpy as np
import pytest
import torch
from ase.io import read

from equipot import EquiformerConfig, Potential

# Compiled kernels a user made (``equipot compile``) are used by default where they exist: the
# tests never see them, so that every run computes what the test asks for.
os.environ["EQUIPOT_CACHE_DIR"] = tempfile.mkdtemp(prefix="equipot-test-cache-")

# Tiny but complete: every block type, L_max = 2, several heads. ZBL walls off at the
# covalent-radius sums: random weights push atoms far closer than a trained model would, and
# MD tests with them need the wall to start there, not at the default 0.7 of it.
TINY = dict(
    zbl_switch=1.0,
    irreps_node="16x0e+8x1o+4x2e",
    num_blocks=2,
    num_heads=2,
    num_basis=8,
    radial_hidden=16,
    ffn_multiplier=2,
    output_hidden=16,
)


def make_model(species=("H", "C", "N", "O"), seed: int = 0, dtype=torch.float64, **overrides) -> Potential:
    torch.manual_seed(seed)
    model = Potential(EquiformerConfig(species=list(species), **{**TINY, **overrides}))
    _randomise(model)
    return model.to(dtype).eval()


def _randomise(model: Potential) -> None:
    """Perturb the norm weights and attention vectors away from their init values, so a
    test cannot pass because some part of the network starts as an identity or a zero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "alpha_dot" in name or "null_logit" in name or name.endswith(".gain"):
                p.add_(0.3 * torch.randn_like(p))


def molecule(name: str):
    path = resources.files("equipot") / "geometries" / f"{name}.xyz"
    return read(str(path))


@pytest.fixture
def tiny_model() -> Potential:
    return make_model()


@pytest.fixture
def aspirin():
    return molecule("aspirin")


@pytest.fixture
def ethanol():
    return molecule("ethanol")


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(1234)
    torch.manual_seed(1234)


def write_morse_store(path, n_frames: int, vary_size: bool = False, seed: int = 0):
    """A frame store of rattled ethanol frames labelled with a Morse pair potential (smooth,
    learnable, instant). With ``vary_size`` frames keep the first 6, 7 or 8 atoms."""
    from ase.calculators.morse import MorsePotential

    from equipot.data.store import FrameStore

    store = FrameStore.create(path, level_of_theory="Morse", code="ase", code_version="test", created_with="pytest")
    rng = np.random.default_rng(seed)
    base = molecule("ethanol")
    for k in range(n_frames):
        atoms = base[: 6 + k % 3].copy() if vary_size else base.copy()
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        atoms.calc = MorsePotential(epsilon=1.0, r0=1.3, rho0=4.0, rcut1=3.5, rcut2=4.5)
        atoms.get_forces()
        store.append(atoms)
    store.close()
    return path
