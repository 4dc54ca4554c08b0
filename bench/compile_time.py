"""Where the time to make a compiled artifact goes, and what Inductor's settings cost and gain.

For each ``--variants`` entry (a name and Inductor settings, ``NAME:KEY=VALUE,...``; ``default``
is Inductor's own), the model's force kernel is made from scratch (its own empty artifact and
Inductor caches, as on a user's first ``equipot compile``) by ``equipot.compiled.build``, which
reports its phases: tracing (``make_fx`` through the backward pass), ``torch.export``, and
AOTInductor (lowering, code generation and the C++ compiler, whose seconds are counted apart).
Then force calls on aspirin through a calculator on each artifact, alternating rounds.

    python bench/compile_time.py [--model aspirin-gfn2] [--dtype float32] \
        [--variants default O0:aot_inductor.compile_wrapper_opt_level=O0 nopm:pattern_matcher=false]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile_speedup import XYZ, ms_per_call  # noqa: E402


def parse_variant(text: str) -> tuple[str, dict]:
    """``NAME:KEY=VALUE,...`` -> (name, Inductor settings); values true/false, numbers or strings."""
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"variant {text!r}: settings are KEY=VALUE, got {item!r}")
        lowered = value.lower()
        if lowered in ("true", "false"):
            options[key] = lowered == "true"
        else:
            try:
                options[key] = int(value)
            except ValueError:
                try:
                    options[key] = float(value)
                except ValueError:
                    options[key] = value
    return name, options


def timed_build(model, options: dict, root: Path) -> dict:
    """Build ``model``'s artifact under ``root`` with Inductor ``options``; phase seconds."""
    import torch._inductor.cpp_builder as cpp_builder

    from equipot.compiled import build

    os.environ["EQUIPOT_CACHE_DIR"] = str(root / "equipot")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(root / "inductor")  # nothing cached from an earlier build
    compiler_s = []
    original = cpp_builder.CppBuilder.build

    def counted(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            compiler_s.append(time.perf_counter() - start)

    timings: dict = {}
    cpp_builder.CppBuilder.build = counted
    try:
        start = time.perf_counter()
        build(model, progress=False, options=options, timings=timings)
        timings["total"] = time.perf_counter() - start
    finally:
        cpp_builder.CppBuilder.build = original
    timings["c++"] = sum(compiler_s)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="aspirin-gfn2")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["default", "O0:aot_inductor.compile_wrapper_opt_level=O0"],
        help="NAME:KEY=VALUE,... Inductor settings to compare ('default': Inductor's own)",
    )
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch
    from ase.io import read

    from equipot import EquiformerCalculator
    from equipot.checkpoint import load_model

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="equipot-compile-time-"))
    rows, calculators = {}, {}
    atoms, rng = read(XYZ), np.random.default_rng(0)
    for name, options in map(parse_variant, args.variants):
        model = load_model(args.model, dtype=args.dtype)
        rows[name] = timed_build(model, options, work / name)
        calculators[name] = EquiformerCalculator(model, dtype=args.dtype, compile=True)
        ms_per_call(atoms, calculators[name], 3, rng)  # loads the artifact just made, from this variant's cache
    ms = {name: [] for name in calculators}
    for _ in range(args.rounds):
        for name, calc in calculators.items():
            ms[name].append(ms_per_call(atoms, calc, args.calls, rng))
    print(f"{args.model}, {args.dtype}, torch threads {torch.get_num_threads()}: making the artifact from scratch")
    print(
        "| settings | trace s | export s | AOTInductor s | of which C++ compiler s | total s | aspirin force call ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, t in rows.items():
        print(
            f"| {name} | {t['trace']:.1f} | {t['export']:.1f} | {t['compile']:.1f} | {t['c++']:.1f} | "
            f"{t['total']:.1f} | {statistics.median(ms[name]):.2f} |"
        )
    print(f"force calls: medians of {args.rounds} alternating rounds of {args.calls}")


if __name__ == "__main__":
    main()
