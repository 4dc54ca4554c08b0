"""Print the README tables of the shipped datasets from the files themselves: one row per file
of the molecule sets, one row per family of the polymer set, one row per melt file.

    python datasets/table.py
"""

from collections import defaultdict
from pathlib import Path

from equipot.data.polymers import FAMILY_TABLE, family_of_file
from equipot.data.store import FrameStore
from equipot.errors import EquipotError

ROOT = Path(__file__).parent
POLYMERS = ROOT / "polymers_gfn2"
MELTS = ROOT / "melts_gfn2"
DENSITY = ROOT / "melts_density_gfn2"
UNCHECKED = ROOT / "melts_unchecked_gfn2"


def summary(path: Path):
    """(attrs, summary) of a store, or None while a generation run still writes it."""
    try:
        with FrameStore(path) as store:
            return dict(store.attrs), store.summary()
    except EquipotError:  # HDF5 lock: a generation run is still writing it
        return None


def molecule_table() -> None:
    print("| file | molecule(s) | level of theory | temperature | timestep | stride | frames | size |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(p for p in ROOT.rglob("*.h5") if p.parent not in (POLYMERS, MELTS, DENSITY, UNCHECKED)):
        a, s = summary(path) or ({}, None)
        if s is None:
            print(f"| `{path.relative_to(ROOT)}` | (being generated) | | | | | | |")
            continue
        if "sampled_from" in a:  # labelled frames: the MD settings are the sampling run's
            source = ROOT / Path(a["sampled_from"]).relative_to(Path(a["sampled_from"]).parents[1])
            a = {**summary(source)[0], **{k: a[k] for k in ("level_of_theory", "code", "code_version")}}
        same = s["n_atoms_min"] == s["n_atoms_max"]
        formula = ", ".join(f"{k}{v // s['frames']}" for k, v in s["elements"].items()) if same else "various"
        print(
            f"| `{path.relative_to(ROOT)}` | {formula} | {a['level_of_theory']} ({a['code']} {a['code_version']}) "
            f"| {a.get('temperature_K', '-')} K | {a.get('timestep_fs', '-')} fs | {a.get('stride', '-')} | "
            f"{s['frames']} | {path.stat().st_size / 1e6:.2f} MB |"
        )


def polymer_table() -> None:
    """Per family: class, repeat unit, chains (atoms at K), frames, frame spacing, generation
    minutes (one core, as recorded in each file; "-" where a file predates the record) and size."""
    files = defaultdict(list)
    for path in sorted(POLYMERS.glob("*_*_*K.h5")):
        files[family_of_file(path)[0]].append(path)
    print(
        "| family | class | repeat unit (SMILES) | chains: atoms @ K (frames) | frames | spacing (fs) | "
        "minutes | size |"
    )
    print("|---|---|---|---|---|---|---|---|")
    total = defaultdict(float)
    for short, name, cls, smiles in FAMILY_TABLE:
        runs, frames, spacing, minutes, size = [], 0, set(), 0.0, 0.0  # minutes: None when not recorded
        for path in files.get(short, []):
            _, atoms, temperature = family_of_file(path)
            info = summary(path)
            if info is None:
                runs.append(f"{atoms} @ {temperature:.0f} (running)")
                continue
            a, s = info
            runs.append(f"{atoms} @ {temperature:.0f} ({s['frames']})")
            frames += s["frames"]
            spacing.add(f"{a['timestep_fs'] * a['stride']:g}")
            minutes = None if minutes is None or "generation_minutes" not in a else minutes + a["generation_minutes"]
            size += path.stat().st_size / 1e6
        total["frames"] += frames
        total["size"] += size
        print(
            f"| {name} (`{short}`) | {cls} | `{smiles}` | {', '.join(runs) or 'not yet'} | {frames} | "
            f"{'/'.join(sorted(spacing, key=float))} | {'-' if minutes is None else f'{minutes:.1f}'} | {size:.2f} MB |"
        )
    print(f"\n{len(FAMILY_TABLE)} families, {total['frames']:.0f} frames, {total['size']:.1f} MB.")


def melt_table(folder: Path = MELTS) -> None:
    """Per melt file: atoms, temperature, density, frames, the mean and spread of the GFN2-xTB
    pressure over its frames (virial only: the frames carry no kinetic part), the closest H...H
    between two chains over its frames, how many frames fail ``MeltCheck`` against the first
    frame's bonds (a bond made or broken, or chains closer than 0.85 of their contact
    distance), whether the sampling MD ran with the wall between chains
    (``equipot.dynamics.walls``) and how many frames are inside its reach, minutes and size."""
    from ase.units import GPa

    print(
        "| file | atoms | temperature | density (g/cm^3) | frames | pressure (GPa) | closest H...H (Å) | "
        "frames failing MeltCheck | MD wall (frames inside its reach) | minutes | size |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(folder.glob("*.h5")):
        info = summary(path)
        if info is None:
            print(f"| `{path.name}` | (being generated) | | | | | | | | | |")
            continue
        a, s = info
        with FrameStore(path) as store:
            frames = [store[k] for k in range(len(store))]
        if not frames:
            print(f"| `{path.name}` | (no frames yet) | | | | | | | | | |")
            continue
        pressure = [-sum(f.stress[:3]) / 3 / GPa for f in frames]
        closest, failing, at_wall = contact_summary([f.to_atoms() for f in frames])
        wall = "yes" if a.get("md_wall", "none") != "none" else "no"
        mean, spread = sum(pressure) / len(pressure), max(pressure) - min(pressure)
        print(
            f"| `{path.name}` | {s['n_atoms_max']} | {a['temperature_K']:.0f} K | {a.get('density_g_cm3', '-')} | "
            f"{s['frames']} | {mean:.2f} (range {spread:.2f}) | {closest:.2f} | {failing} | {wall} ({at_wall}) | "
            f"{a.get('generation_minutes', 0):.0f} | {path.stat().st_size / 1e6:.2f} MB |"
        )


def contact_summary(frames) -> tuple[float, int, int]:
    """(closest H...H between two chains over ``frames``, frames failing ``MeltCheck``, frames
    where the chains' ``ContactWall`` pushes), chains and bonds from the first frame."""
    from equipot.data.melts import MeltCheck, closest_contacts
    from equipot.dynamics.walls import ContactWall

    check = MeltCheck(frames[0])
    closest = min(closest_contacts(f, check.chain)["H-H"] for f in frames)
    wall = ContactWall(check.chain, check.bonds, floor=check.floor)
    at_wall = sum(wall.get_potential_energy(f) > 0 for f in frames)
    return closest, sum(check(f) is not None for f in frames), at_wall


if __name__ == "__main__":
    molecule_table()
    print()
    polymer_table()
    print()
    melt_table()
    print()
    melt_table(DENSITY)
    print()
    melt_table(UNCHECKED)
