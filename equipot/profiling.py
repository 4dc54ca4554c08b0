"""Where one energy+forces call spends its time, by phase of the model, with the FLOPs of each.

Phases are groups of modules (``PHASES``: the edge features, the embedding, the attention's
tensor products, radial MLPs, linears and the rest of it, the norms, the feed-forward networks,
the readout, ZBL), plus the calculator's neighbour list and graph and the backward pass that
gives the forces. While ``instrumented`` is active, the entry points of each phase module
(``forward``, ``forward_typed``, ``forward_blocks``) open a ``torch.profiler.record_function``
span and mark the phase as current, so the model code carries no instrumentation. A phase's time
is the total of its spans; what no phase holds (Python, dispatch, the calculator) is "other".
FLOPs are counted per current phase with ``torch.utils.flop_counter``'s formulas (matrix
products; elementwise work is not counted, so achieved rates are lower bounds).
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from contextlib import contextmanager

import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

# phase -> the names (last part of the module path) of the modules it holds
PHASES = {
    "edge features (SH, radial basis, envelope)": ("spherical_harmonics", "basis", "envelope"),
    "embedding": ("atom_embedding", "edge_embedding"),
    "attention: tensor products": ("tp_alpha", "tp_value"),
    "attention: radial MLPs": ("radial_alpha", "radial_value"),
    "attention: linears": ("linear_src", "linear_dst", "linear_alpha", "linear_value_in", "linear_value", "linear_out"),
    "attention: gate and activation": ("value_gate", "alpha_act"),
    "norms": ("norm_attn", "norm_ffn"),
    "feed-forward": ("ffn",),
    "readout": ("head",),
    "ZBL": ("repulsion",),
}
ATTENTION = "attention: softmax, gathers, scatters"  # the attention's own work, outside its children
GRAPH, BACKWARD, OTHER = "neighbour list and graph", "backward (forces)", "other (Python, dispatch, calculator)"
_CURRENT: list[str] = []  # the phases entered, innermost last


def _phase_of(name: str) -> str | None:
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "attention":
        return ATTENTION
    return next((phase for phase, leaves in PHASES.items() if leaf in leaves), None)


def _inside_phase(name: str) -> bool:
    """Whether a module path lies inside a phase module other than the attention (whose own
    time is what its children's leave)."""
    parts = name.split(".")
    return any(_phase_of(".".join(parts[:k])) not in (None, ATTENTION) for k in range(1, len(parts)))


def _entered(method, phase: str):
    @functools.wraps(method)
    def run(*args, **kwargs):
        _CURRENT.append(phase)
        try:
            with record_function(f"phase::{phase}"):
                return method(*args, **kwargs)
        finally:
            _CURRENT.pop()

    return run


@contextmanager
def instrumented(calc):
    """Phase spans on ``calc``'s model (an ``EquiformerCalculator``), its graph building and
    the autograd call that gives the forces; everything is restored on exit."""
    patched = []
    for name, module in calc.model.named_modules():
        phase = _phase_of(name)
        if phase is None or _inside_phase(name):
            continue
        for method in ("forward", "forward_typed", "forward_blocks"):
            if hasattr(type(module), method):
                setattr(module, method, _entered(getattr(module, method), phase))
                patched.append((module, method))
    grad = torch.autograd.grad
    calc._graph = _entered(calc._graph, GRAPH)
    torch.autograd.grad = _entered(grad, BACKWARD)
    try:
        yield
    finally:
        torch.autograd.grad = grad
        del calc._graph
        for module, method in patched:
            delattr(module, method)


class _PhaseFlops(TorchDispatchMode):
    """FLOPs of every operation with a flop formula, by the phase current when it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, float] = defaultdict(float)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.counts[_CURRENT[-1] if _CURRENT else OTHER] += formula(*args, **kwargs, out_val=out)
        return out


def phase_profile(calc, atoms, calls: int = 5) -> tuple[dict[str, float], dict[str, float], float]:
    """(milliseconds per call by phase, FLOPs per call by phase, total milliseconds) of an
    energy+forces call of ``calc`` on ``atoms``, moved a little before each call (as in MD)."""
    atoms = atoms.copy()
    atoms.calc = calc

    def call() -> None:
        atoms.positions += 1e-3
        atoms.get_forces()

    with instrumented(calc):
        for _ in range(2):
            call()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(calls):
                call()
            total = (time.perf_counter() - start) * 1000 / calls
        with _PhaseFlops() as counter:
            call()
    prefix = "phase::"
    inclusive = {
        e.key[len(prefix) :]: e.cpu_time_total / 1000 / calls for e in prof.key_averages() if e.key.startswith(prefix)
    }
    times = dict(inclusive)
    # the attention's span holds its children's: keep only its own
    times[ATTENTION] = inclusive.get(ATTENTION, 0.0) - sum(
        v for k, v in inclusive.items() if k.startswith("attention:") and k != ATTENTION
    )
    times[OTHER] = total - sum(times.values())
    return times, dict(counter.counts), total
