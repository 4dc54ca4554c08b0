"""The phase profile: the phases and "other" add up to the call, the attention's tensor
products, linears and the backward pass are found with their FLOPs, and the model is left as
it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equipot import EquiformerCalculator
from equipot.profiling import ATTENTION, BACKWARD, GRAPH, OTHER, phase_profile
from tests.conftest import make_model, molecule


def test_phases_add_up_and_instrumentation_is_removed():
    model = make_model(species=("H", "C", "O"))
    calc = EquiformerCalculator(model, dtype="float64")
    atoms = molecule("ethanol")
    atoms.calc = calc
    before = atoms.get_forces().copy()
    times, flops, total = phase_profile(calc, molecule("ethanol"), calls=2)
    assert sum(times.values()) == pytest.approx(total, rel=1e-9)
    for phase in ("attention: tensor products", "attention: linears", ATTENTION, BACKWARD, GRAPH, "readout"):
        assert times[phase] > 0, phase
    assert flops["attention: linears"] > 0 and flops[BACKWARD] > flops["attention: linears"]
    assert times[OTHER] < total
    # no wrapper left behind: the methods are the classes' again and the forces unchanged
    assert not any(
        "forward" in vars(m) or "forward_typed" in vars(m) or "forward_blocks" in vars(m) for m in model.modules()
    )
    assert torch.autograd.grad.__module__ == "torch.autograd"
    again = molecule("ethanol")
    again.calc = EquiformerCalculator(model, dtype="float64")
    np.testing.assert_allclose(again.get_forces(), before, atol=1e-12)
