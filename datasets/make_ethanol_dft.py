"""Regenerate datasets/ethanol_dft/ethanol_pbe_def2svp.h5: PBE/def2-SVP labels (PySCF) on
ethanol frames sampled by GFN2-xTB Langevin MD at 500 K.

The geometries are every other frame of datasets/md17_gfn2/ethanol.h5 (GFN2-xTB, 500 K,
0.5 fs, a frame every 10 fs), so 1,000 frames 20 fs apart; each is recomputed with Kohn-Sham
PBE/def2-SVP (tight SCF, no density fitting: see ``equipot.data.reference.pyscf_calculator``).
About 10-25 s per frame on one CPU core. Resumable: rerunning continues after the last
labelled frame.

Parallel: ``--workers N --worker K`` labels every N-th frame starting at K into
``OUT.partK.h5`` (run N such processes with OMP_NUM_THREADS=1), then ``--workers N --merge``
joins the parts in frame order into OUT.

    python datasets/make_ethanol_dft.py [--frames 1000] [--every 2] [--out PATH] [--workers N (--worker K | --merge)]
"""

import argparse
from pathlib import Path

from equipot.data.reference import label_frames, pyscf_calculator
from equipot.data.store import FrameStore

ROOT = Path(__file__).parent


def part_path(out: str, worker: int) -> Path:
    return Path(f"{out}.part{worker}.h5")


def merge(out: str, workers: int) -> None:
    """Join the worker files into ``out`` ordered by frame id (refuses to overwrite ``out``)."""
    if Path(out).exists():
        raise SystemExit(f"{out} exists; move it away to merge again")
    parts = [FrameStore(part_path(out, k)) for k in range(workers)]
    frames = sorted((p[i] for p in parts for i in range(len(p))), key=lambda f: f.frame_id)
    attrs = parts[0].attrs
    standard = {"format", "format_version", "created", "level_of_theory", "code", "code_version", "created_with"}
    extra = {
        k: v for k, v in attrs.items() if k not in standard and not k.startswith("has_") and not k.endswith("_unit")
    }
    command = attrs["created_with"].replace(" --worker 0", f" --worker K (K = 0..{workers - 1}), then --merge")
    with FrameStore.create(
        out,
        level_of_theory=attrs["level_of_theory"],
        code=attrs["code"],
        code_version=attrs["code_version"],
        created_with=command,
        metadata={**extra, "parallel_workers": workers},
    ) as store:
        for frame in frames:
            store.append(frame)
    print(f"{out}: {len(frames)} frames from {workers} parts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT / "md17_gfn2" / "ethanol.h5"))
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "ethanol_dft" / "ethanol_pbe_def2svp.h5"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker", type=int, default=None)
    parser.add_argument("--merge", action="store_true")
    args = parser.parse_args()
    if args.merge:
        merge(args.out, args.workers)
        return
    indices = list(range(0, args.frames * args.every, args.every))
    out = args.out
    if args.workers > 1:
        if args.worker is None or not 0 <= args.worker < args.workers:
            raise SystemExit("--workers N needs --worker K with 0 <= K < N (or --merge)")
        indices, out = indices[args.worker :: args.workers], part_path(args.out, args.worker)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    label_frames(
        args.source,
        pyscf_calculator("PBE", "def2-SVP"),
        out,
        level_of_theory="PBE/def2-SVP",
        code="pyscf",
        indices=indices,
    )


if __name__ == "__main__":
    main()
