"""Print the README table of the shipped datasets from the files themselves.

    python datasets/table.py
"""

from pathlib import Path

from equipot.data.store import FrameStore

ROOT = Path(__file__).parent

print("| file | molecule(s) | level of theory | temperature | timestep | stride | frames | size |")
print("|---|---|---|---|---|---|---|---|")
for path in sorted(ROOT.rglob("*.h5")):
    try:
        with FrameStore(path) as store:
            a = store.attrs
            s = store.summary()
    except BlockingIOError:  # HDF5 lock: a generation run is still writing it
        print(f"| `{path.relative_to(ROOT)}` | (being generated) | | | | | | |")
        continue
    if "sampled_from" in a:  # labelled frames: the MD settings are the sampling run's
        with FrameStore(ROOT / Path(a["sampled_from"]).relative_to(Path(a["sampled_from"]).parents[1])) as source:
            a = {**source.attrs, **{k: a[k] for k in ("level_of_theory", "code", "code_version")}}
    formula = ", ".join(f"{k}{v // s['frames']}" for k, v in s["elements"].items()) if s["n_atoms_min"] == s["n_atoms_max"] else "various"
    print(f"| `{path.relative_to(ROOT)}` | {formula} | {a['level_of_theory']} ({a['code']} {a['code_version']}) | "
          f"{a.get('temperature_K', '-')} K | {a.get('timestep_fs', '-')} fs | {a.get('stride', '-')} | {s['frames']} | "
          f"{path.stat().st_size / 1e6:.2f} MB |")
