"""An i-PI client: ASE's ``SocketClient`` driving ``EquiformerCalculator``."""

from __future__ import annotations

import argparse

from equipot.errors import EquipotError


def parse_address(address: str) -> dict:
    """``unix:NAME`` (i-PI's unix socket /tmp/ipi_NAME) or ``HOST:PORT`` (inet) -> SocketClient keywords."""
    kind, _, rest = address.partition(":")
    if kind == "unix" and rest:
        return {"unixsocket": rest}
    host, _, port = address.rpartition(":")
    if host and port.isdigit():
        return {"host": host, "port": int(port)}
    raise EquipotError(f"address {address!r}: use unix:NAME or HOST:PORT")


def serve(
    structure,
    model,
    address: str,
    *,
    dtype: str = "float64",
    device: str = "cpu",
    threads: int | None = None,
    timeout: float | None = None,
) -> None:
    """Serve ``model``'s energies and forces to the i-PI server at ``address`` until it ends
    the run. ``structure`` (Atoms or a file or shipped name) gives the elements, in i-PI's atom
    order; positions and cell come from the server. Stress is sent for periodic structures."""
    from ase.calculators.socketio import SocketClient

    from equipot.calculator import EquiformerCalculator
    from equipot.data.readers import read_structure

    atoms = read_structure(structure) if isinstance(structure, str) else structure.copy()
    atoms.calc = EquiformerCalculator(model, dtype=dtype, device=device, num_threads=threads)
    try:
        client = SocketClient(timeout=timeout, **parse_address(address))
    except (FileNotFoundError, ConnectionRefusedError) as err:
        raise EquipotError(f"no i-PI server listening at {address} ({err.strerror}): start i-pi first") from err
    try:
        client.run(atoms, use_stress=bool(atoms.pbc.all()))
    finally:
        client.close()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ipi-client",
        help="serve equipot forces to an i-PI server (PIMD, REMD)",
        description="Connect to an i-PI server and compute energies and forces for it until "
        "it ends the run. Start several for one server to spread beads or "
        "replicas over processes and machines.",
    )
    p.add_argument("structure", help="structure file or shipped molecule: the elements, in i-PI's atom order")
    p.add_argument("--model", required=True, help="checkpoint path or shipped model name")
    p.add_argument("--address", required=True, help="unix:NAME (i-PI ffsocket mode='unix') or HOST:PORT (mode='inet')")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads of this client")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    serve(args.structure, args.model, args.address, dtype=args.dtype, device=args.device, threads=args.threads)
    return 0
