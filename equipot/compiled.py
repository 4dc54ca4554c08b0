"""Ahead-of-time compiled force kernel: one artifact per model, dtype and device, made once
(``equipot compile MODEL``, or on first use) and loaded by every later process in a moment.

The artifact computes the map every front end needs,

    (species (N,), edge vectors r_e = r_src - r_dst (E, 3), edge_index (2, E), weights w (N,))
        -> (per-atom energies E_i (N,), dE/dr_e (E, 3)),   E = sum_i w_i E_i,

the forward pass and its backward pass traced together into one graph of tensor operations
(``make_fx`` through ``torch.autograd.grad``), exported with the atom and edge counts dynamic
(``torch.export``: edges entering and leaving the cutoff never recompile), and compiled by
AOTInductor into a shared library inside a ``.pt2`` package. Forces and stress follow from the
edge gradients exactly (``edge_forces_and_stress``):

    F_k = -sum_{e: src=k} dE/dr_e + sum_{e: dst=k} dE/dr_e,
    sigma = (1/V) sym(sum_e r_e (x) dE/dr_e).

Artifacts live in ``$EQUIPOT_CACHE_DIR/compiled`` (default ``~/.cache/equipot/compiled``),
named by a hash of the model's weights and config, the dtype, the device type and the torch
version: a retrained model or another torch gets its own. Structures with fewer than two atoms
or two edges take the eager kernel (export's dynamic sizes start at two). The weights are 1
for a structure; an engine sets them to 0 on its ghost atoms, which then only pass messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from equipot.errors import EquipotError

# torch is imported inside the functions: `equipot --help` registers this module's command

MIN_SIZE = 2  # smallest atom and edge count the exported graph takes


def cache_dir() -> Path:
    """Where compiled artifacts are kept: ``$EQUIPOT_CACHE_DIR/compiled`` or ``~/.cache/equipot/compiled``."""
    root = os.environ.get("EQUIPOT_CACHE_DIR") or Path.home() / ".cache" / "equipot"
    return Path(root) / "compiled"


def artifact_path(potential) -> Path:
    """The artifact of ``potential`` at its current dtype and device."""
    import torch

    param = next(potential.parameters())
    digest = hashlib.sha256()
    for name, tensor in sorted(potential.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(json.dumps(potential.config.to_dict(), sort_keys=True, default=str).encode())
    digest.update(f"{param.dtype}|{param.device.type}|{torch.__version__}".encode())
    dtype = str(param.dtype).removeprefix("torch.")
    return cache_dir() / f"model-{dtype}-{param.device.type}-{digest.hexdigest()[:16]}.pt2"


def _example(potential) -> tuple:
    """A small cluster of the model's species, every pair an edge: the tracing example."""
    import torch

    param = next(potential.parameters())
    n = 6
    generator = torch.Generator().manual_seed(0)
    positions = torch.rand(n, 3, generator=generator, dtype=torch.float64) * potential.cutoff / 3
    src, dst = zip(*[(i, j) for i in range(n) for j in range(n) if i != j])
    edge_index = torch.tensor([src, dst], dtype=torch.long, device=param.device)
    vectors = (positions[list(src)] - positions[list(dst)]).to(param)
    species = (torch.arange(n) % len(potential.species)).to(param.device)
    return species, vectors, edge_index, torch.ones(n, dtype=param.dtype, device=param.device)


def _kernel(potential):
    import torch

    def kernel(species, vectors, edge_index, weights):
        vectors = vectors.detach().requires_grad_(True)
        with torch.enable_grad():
            energy = potential.node_energies(species, vectors, edge_index)
            (grad,) = torch.autograd.grad((energy * weights).sum(), vectors)
        return energy.detach(), grad

    return kernel


def build(
    potential,
    path: str | Path | None = None,
    progress: bool = True,
    options: dict | None = None,
    timings: dict | None = None,
) -> Path:
    """Trace, export and compile ``potential``'s kernel into ``path`` (default ``artifact_path``);
    ``options`` and ``timings`` as in ``aot_package``."""
    import torch

    path = Path(path) if path is not None else artifact_path(potential)
    example = _example(potential)
    start = time.perf_counter()
    frozen = [p for p in potential.parameters() if p.requires_grad]
    for p in frozen:  # weights enter as constants, not as inputs to differentiate
        p.requires_grad_(False)
    try:
        atoms, edges = torch.export.Dim("atoms", min=MIN_SIZE), torch.export.Dim("edges", min=MIN_SIZE)
        shapes = ({0: atoms}, {0: edges}, {1: edges}, {0: atoms})
        aot_package(_kernel(potential), example, shapes, path, options=options, timings=timings)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    if progress:
        print(f"equipot: compiled {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


# Inductor's own settings (wrapper at O1, kernels at O3). An unoptimised wrapper (O0) compiles
# faster but its calls measured slower on small molecules (bench/compile_time.py)
INDUCTOR_OPTIONS: dict = {}


def aot_package(
    function,
    example: tuple,
    dynamic_shapes: tuple,
    path: Path,
    options: dict | None = None,
    timings: dict | None = None,
) -> Path:
    """``function(*example)`` of tensors (or lists of them) traced with everything it
    differentiates (``make_fx``, symbolic sizes), exported with ``dynamic_shapes`` (one entry
    per argument) and compiled by AOTInductor into the package ``path``, written atomically.

    ``options``: Inductor settings (default ``INDUCTOR_OPTIONS``); ``timings``, if given,
    receives the seconds of each phase: ``trace``, ``export`` and ``compile``."""
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    class Traced(torch.nn.Module):  # torch.export takes a module
        def __init__(self, graph_module) -> None:
            super().__init__()
            self.graph_module = graph_module

        def forward(self, *args):
            return self.graph_module(*args)

    timings = {} if timings is None else timings
    start = time.perf_counter()
    traced = make_fx(function, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example)
    timings["trace"] = time.perf_counter() - start
    exported = torch.export.export(Traced(traced), example, dynamic_shapes=(dynamic_shapes,), strict=False)
    timings["export"] = time.perf_counter() - start - timings["trace"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.pt2")
    options = INDUCTOR_OPTIONS if options is None else options
    torch._inductor.aoti_compile_and_package(exported, package_path=str(tmp), inductor_configs=options)
    timings["compile"] = time.perf_counter() - start - timings["trace"] - timings["export"]
    os.replace(tmp, path)  # a process never loads half an artifact
    return path


class CompiledKernel:
    """The loaded artifact of one model: ``kernel(species, vectors, edge_index[, weights]) -> (E_i, dE/dr_e)``."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise EquipotError(f"no compiled kernel at {path}: make it with `equipot compile MODEL`")
        import torch

        self.path = path
        self._runner = torch._inductor.aoti_load_package(str(path))

    @classmethod
    def for_model(cls, potential, build_if_missing: bool = True) -> CompiledKernel:
        """The model's artifact, compiled first if it does not exist yet (and ``build_if_missing``)."""
        path = artifact_path(potential)
        if not path.is_file():
            if not build_if_missing:
                raise EquipotError(f"no compiled kernel for this model at {path}: run `equipot compile MODEL`")
            build(potential, path)
        return cls(path)

    def __call__(self, species, vectors, edge_index, weights=None):
        if weights is None:
            weights = vectors.new_ones(species.shape[0])
        return self._runner(species, vectors.detach().contiguous(), edge_index.contiguous(), weights.contiguous())

    def __repr__(self) -> str:
        return f"CompiledKernel({self.path.name})"


def edge_forces_and_stress(graph, vectors, grad, compute_stress: bool):
    """Forces (N, 3) and, if asked, stress (B, 3, 3) (NaN for structures without volume) from
    dE/dr_e (E, 3) of the edge vectors r_e (E, 3) of ``graph``."""
    import torch

    from equipot.potential import pair_forces

    forces = pair_forces(grad, graph.edge_index, graph.num_atoms)
    if not compute_stress:
        return forces, None
    outer = vectors.unsqueeze(2) * grad.unsqueeze(1)  # (E, 3, 3): r_a g_b
    edge_graph = graph.batch.index_select(0, graph.edge_index[0])
    virial = outer.new_zeros(graph.num_graphs, 3, 3).index_add(0, edge_graph, outer)
    virial = 0.5 * (virial + virial.transpose(1, 2))
    volume = torch.linalg.det(graph.cell).abs().view(-1, 1, 1)
    has_volume = volume > 0
    stress = virial / torch.where(has_volume, volume, torch.ones_like(volume))
    return forces, torch.where(has_volume, stress, torch.full_like(stress, float("nan")))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compile",
        help="compile a model's force kernel once, for every later --compile run",
        description="Trace, export and compile a model's force kernel (AOTInductor) into the cache "
        "(EQUIPOT_CACHE_DIR/compiled, default ~/.cache/equipot/compiled), where `equipot md --compile`, "
        "EquiformerCalculator(..., compile=True) and ReplicaDynamics(compile=True) find it.",
    )
    p.add_argument("model", help="checkpoint path or shipped model name")
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "float64"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--force", action="store_true", help="compile again even if the artifact exists")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from equipot.checkpoint import load_model

    for dtype in args.dtype:
        model = load_model(args.model, device=args.device, dtype=dtype)
        path = artifact_path(model)
        if path.is_file() and not args.force:
            print(f"{args.model} {dtype}: {path} (exists; --force compiles again)")
            continue
        build(model, path)
    return 0
