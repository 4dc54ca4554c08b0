"""equipot as a force server for i-PI (path integrals, replica exchange, many walkers).

i-PI runs the dynamics and sends positions and cells over a socket; each client computes
energy, forces and virial with ``EquiformerCalculator`` and sends them back. Start as many
clients as you like, on as many machines, against one server: i-PI hands each a bead or a
replica as it comes free. ``equipot ipi-client STRUCTURE --model M --address ADDRESS`` is one
client; ``serve`` is the same from Python.
"""

from __future__ import annotations

from equipot._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "equipot.ipi.client": ["parse_address", "serve"],
    },
)
