"""Starting a fine-tune from a trained potential: elements it has never seen, another dispersion
term, and the per-element reference energies that carry it onto the new training data.

A checkpoint knows a fixed list of elements: its atom embedding maps a one-hot species vector
(K,) to the scalar channels of the first node features, ``h_0 = onehot(z) W / sqrt(K)``
(``equipot.nn.embedding``). ``extend_species`` grows K to K' = K + n without changing what the
potential computes for the elements it knew: their rows of W are scaled by sqrt(K'/K), so that
``W'[z] / sqrt(K') = W[z] / sqrt(K)``, and the n new rows start as a fresh model's do (standard
normal). Everything past the embedding sees only node features, never the species, and is kept
as trained. The new elements get their reference energies from ``residual_reference_energies``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from equipot.errors import EquipotError
from equipot.model import EquiformerConfig
from equipot.potential import Potential
from equipot.train.data import dispersion_energies, least_squares_reference_energies

EMBEDDING = "network.atom_embedding.linear.weights.0"
# entries of a potential's state whose size or content follows its species list; the ZBL
# buffers and the number -> species table are rebuilt from the list, not copied
SPECIES_ENTRIES = {"z_to_index", "reference_energies", "repulsion.z", "repulsion.r_cov", EMBEDDING}


def extend_species(model: Potential, added: Iterable[str], seed: int = 0) -> Potential:
    """``model`` with the elements ``added`` appended to its species, computing exactly what it
    did on structures of its old elements (in its dtype); the new elements' embedding rows are
    drawn from a generator seeded with ``seed`` and their reference energies are zero.

    Raises:
        EquipotError: an element of ``added`` is already one of the model's, or appears twice.
    """
    added = list(added)
    overlap = sorted(set(added) & set(model.species))
    if overlap or len(set(added)) != len(added):
        raise EquipotError(f"cannot add {added} to a model of {model.species}: each new element once, none it knows")
    config = EquiformerConfig.from_dict({**model.config.to_dict(), "species": model.species + added})
    param = next(model.parameters())
    grown = Potential(config, metadata=model.metadata).to(device=param.device, dtype=param.dtype)
    state, target = model.state_dict(), grown.state_dict()
    for name, tensor in state.items():
        if name not in SPECIES_ENTRIES:
            target[name] = tensor
    old, new = len(model.species), len(config.species)
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(new - old, state[EMBEDDING].shape[1], generator=generator, dtype=torch.float64)
    target[EMBEDDING] = torch.cat([state[EMBEDDING] * math.sqrt(new / old), rows.to(state[EMBEDDING])])
    target["reference_energies"] = torch.cat(
        [state["reference_energies"], state["reference_energies"].new_zeros(new - old)]
    )
    grown.load_state_dict(target)
    return grown.train(model.training)


@torch.no_grad()
def residual_reference_energies(model: Potential, batches, composition) -> dict[str, float]:
    """Reference energies (eV per element) that fit ``model`` to the training energies: its own
    E0 plus the least-squares fit of the energies minus its predictions over ``batches`` (the
    training frames in the order of ``composition`` = (species, counts (frames, species),
    energies (frames,)), as ``equipot.train.data.composition_and_energies`` gives them)."""
    was_training = model.training
    model.eval()
    predicted = [model(batch, compute_forces=False)["energy"].detach().double().cpu().numpy() for batch in batches]
    model.train(was_training)
    species, counts, energies = composition
    shift = least_squares_reference_energies(counts, energies - np.concatenate(predicted), species)
    current = dict(zip(model.species, model.reference_energies.tolist()))
    return {s: current[s] + shift[s] for s in species}


def swap_dispersion(model: Potential, spec: str | None, train_set, composition, shift_reference=True) -> Potential:
    """``model`` with the dispersion term ``spec`` in place of its own, starting where the model
    stood: the least-squares fit of the change in dispersion energy over the training frames
    goes into the reference energies, so only its non-additive part is new to the network.
    ``shift_reference=False`` leaves E0 as it was, for a caller that refits it to the training
    energies next (that fit absorbs this shift; evaluating the term over the frames is skipped)."""
    config = EquiformerConfig.from_dict({**model.config.to_dict(), "dispersion": spec})
    swapped = Potential(config, metadata=model.metadata)
    swapped.load_state_dict(model.state_dict())
    if not shift_reference:
        return swapped.train()
    species, counts, _ = composition
    change = dispersion_energies(train_set, swapped.dispersion) - dispersion_energies(train_set, model.dispersion)
    shift = least_squares_reference_energies(counts, change, species)
    current = dict(zip(model.species, model.reference_energies.tolist()))
    swapped.set_reference_energies({s: current[s] - shift[s] for s in model.species})
    return swapped.train()
