"""The stability-study scripts in md/: chain ends on a real chain, and an end-to-end run of the
MD17 study on a tiny budget that writes its report."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "md" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chain_ends_are_the_terminal_backbone_carbons():
    pytest.importorskip("rdkit")
    from equipot.data.polymers import build_oligomer
    from equipot.dynamics.analysis import chain_ends
    from equipot.dynamics.monitors import bonds_of

    chain = build_oligomer("polyethylene", 6, seed=0)  # C12H26: a linear backbone of 12 carbons
    a, b = chain_ends(chain)
    heavy_neighbours = {i: 0 for i in (a, b)}
    for i, j in bonds_of(chain):
        for x, y in ((i, j), (j, i)):
            if x in heavy_neighbours and chain.numbers[y] > 1:
                heavy_neighbours[x] += 1
    assert chain.numbers[a] == chain.numbers[b] == 6
    assert heavy_neighbours == {a: 1, b: 1}
    # the ends are the two carbons furthest apart in space too, for a stretched-out start
    carbons = np.flatnonzero(chain.numbers == 6)
    d = np.linalg.norm(chain.positions[carbons, None] - chain.positions[None, carbons], axis=-1)
    assert chain.get_distance(a, b) > 0.5 * d.max()


def test_md17_study_writes_its_report(tmp_path):
    study = _load("md17_stability")
    study.main(
        [
            "--molecules",
            "ethanol",
            "--replicas",
            "2",
            "--duration-ps",
            "0.02",
            "--nve-duration-ps",
            "0.01",
            "--out",
            str(tmp_path),
            "--quiet",
            "--model",
            "md17-gfn2",
            "--save-frames",
        ]
    )
    report = (tmp_path / "report.md").read_text()
    assert "| ethanol | 2/2 |" in report
    results = json.loads((tmp_path / "results.json").read_text())
    ethanol = results["nvt"]["molecules"]["ethanol"]
    assert ethanol["stable_ps"] == [pytest.approx(0.02)] * 2 and ethanol["frames"] == 2 * 2
    assert ethanol["monitors"] == [None, None] and ethanol["reasons"] == []
    # --save-frames: the frames behind h(r), tagged by replica and time (every 10 fs), real geometries
    saved = read(tmp_path / "frames_ethanol.xyz", ":")
    assert [(a.info["replica"], a.info["time_fs"]) for a in saved] == [(0, 10.0), (0, 20.0), (1, 10.0), (1, 20.0)]
    start = read(study.ROOT / "equipot" / "geometries" / "ethanol.xyz")
    assert all(list(a.numbers) == list(start.numbers) for a in saved)
    bonded = (start.get_all_distances() > 0) & (start.get_all_distances() < 1.6)
    for a in saved:  # 10-20 fs at 500 K moves the atoms (H by up to ~0.5 Å) but keeps the bonds
        assert np.abs(a.positions - start.positions).max() > 0.05
        assert np.abs(a.get_all_distances() - start.get_all_distances())[bonded].max() < 0.3
    assert not np.allclose(saved[0].positions, saved[2].positions)  # the two replicas differ
    assert 0 < ethanol["hr_mae"] < 2  # the metric is bounded by 2 (disjoint histograms)
    assert np.isfinite(results["nve"]["ethanol"]["slope_meV_per_atom_per_ps"])
    assert (tmp_path / "hr.png").stat().st_size > 0 and (tmp_path / "nve_energy.png").stat().st_size > 0


def test_md17_summary_pools_replicas_across_runs(tmp_path):
    """Three runs of the study (different seeds; one without NVE, one NVE only) pool into one row
    per molecule: the replicas of both NVT runs are counted, the NVE windows of both NVE runs are
    listed, and a run shorter than --min-ps / --min-nve-ps is left out."""
    study, summary = _load("md17_stability"), _load("md17_summary")
    common = ["--molecules", "ethanol", "--quiet", "--model", "md17-gfn2"]
    study.main(
        [*common, "--replicas", "2", "--duration-ps", "0.01", "--nve-duration-ps", "0.01", "--out", str(tmp_path / "a")]
    )
    study.main(
        [
            *common,
            "--replicas",
            "1",
            "--seed",
            "1",
            "--duration-ps",
            "0.01",
            "--nve-duration-ps",
            "0",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    study.main(
        [*common, "--seed", "2", "--duration-ps", "0", "--nve-duration-ps", "0.02", "--out", str(tmp_path / "c")]
    )
    report_b, report_c = (tmp_path / "b" / "report.md").read_text(), (tmp_path / "c" / "report.md").read_text()
    assert "| ethanol | 1/1 | 0.01 | 0.01 |" in report_b and "NVE: not run" in report_b
    assert "| ethanol | not run |" in report_c and "NVT: not run" in report_c
    assert not (tmp_path / "b" / "nve_energy.png").exists() and not (tmp_path / "c" / "hr.png").exists()

    dirs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    row = summary.collect(dirs, min_ps=0.01, min_nve_ps=0.01)["ethanol"]
    assert len(row["replicas"]) == 3 and not any(r["failed"] for r in row["replicas"])
    assert sorted(r["seed"] for r in row["replicas"]) == [0, 0, 1]
    assert [(n["report"], n["window_ps"]) for n in row["nve"]] == [
        ("a", pytest.approx(0.01)),
        ("c", pytest.approx(0.02)),
    ]
    for n in row["nve"]:
        assert n["noise_meV_per_atom_per_ps"] == pytest.approx(n["fluctuation_meV_per_atom"] / n["window_ps"])
    assert "| ethanol | 3/3 |" in summary.markdown(summary.collect(dirs, 0.01, 0.01), 0.01, 0.01)
    only_long = summary.collect(dirs, min_ps=0.02, min_nve_ps=0.02)["ethanol"]  # both NVT runs are shorter
    assert only_long["replicas"] == [] and [n["report"] for n in only_long["nve"]] == ["c"]
    # a replica a monitor stopped counts as failed, named with its monitor and time (run b, edited)
    path_b = tmp_path / "b" / "results.json"
    results_b = json.loads(path_b.read_text())
    results_b["nvt"]["molecules"]["ethanol"].update(stable_ps=[0.0065], monitors=["contact"], failed=1)
    path_b.write_text(json.dumps(results_b))
    row = summary.collect(dirs, min_ps=0.01, min_nve_ps=0.01)["ethanol"]
    assert [r["monitor"] for r in row["replicas"] if r["failed"]] == ["contact"]
    assert "| ethanol | 2/3 (contact at 0.01 ps) | 0.01 |" in summary.markdown(
        summary.collect(dirs, 0.01, 0.01), 0.01, 0.01
    )
    # a run of another model under the same name (retrained: another parameter count) is not pooled
    results_b["model"]["params"] += 1
    path_b.write_text(json.dumps(results_b))
    labels = summary.models(dirs)
    assert len(labels) == 2 and labels[0].startswith("`md17-gfn2`, ")
    assert [len(summary.collect(dirs, 0.01, 0.01, model=m)["ethanol"]["replicas"]) for m in labels] == [2, 1]


def test_polymer_box_keeps_chains_apart_across_the_boundaries():
    """The box builder: all chains' atoms, a periodic cubic cell, and no two atoms of
    different chains (periodic images included) closer than the requested gap."""
    from ase.build import molecule
    from ase.neighborlist import neighbor_list

    box_module = _load("polymer_box")
    chains = [molecule("C6H6"), molecule("CH3CH2OH"), molecule("C6H6")]
    box = box_module.pack_chains(chains, gap=3.0, seed=1)
    assert len(box) == sum(len(c) for c in chains) and box.pbc.all()
    assert np.allclose(box.cell.array, np.eye(3) * box.cell.lengths()[0])
    owner = np.repeat(np.arange(len(chains)), [len(c) for c in chains])
    i, j = neighbor_list("ij", box, 3.0)
    assert np.all(owner[i] == owner[j])  # within 3 Å: only atoms of the same chain


def test_polymer_study_writes_its_report(tmp_path):
    """A few steps of one training-family chain with a shipped polymer model, against its
    GFN2-xTB trajectory: the report row and the reference Rg are there."""
    study = _load("polymer_stability")
    study.main(
        [
            "--families",
            "pe",
            "--models",
            "polymers-gfn2",
            "--chain-atoms",
            "30",
            "--duration-ps",
            "0.01",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    results = json.loads((tmp_path / "results.json").read_text())["results"]["polymers-gfn2"]
    (row,) = results.values()
    assert row["family"] == "pe" and row["failure"] is None and row["run_ps"] == pytest.approx(0.01)
    assert 2.0 < row["ref_rg_mean"] < 10.0 and "| pe_32_300K |" in (tmp_path / "report.md").read_text()


def test_frame_audit_compares_model_and_gfn2_and_finds_contacts(tmp_path, capsys):
    pytest.importorskip("tblite")
    from ase.io import write

    audit = _load("audit_frames")
    start = read(ROOT / "equipot" / "geometries" / "salicylic.xyz")
    pairs = {tuple(p) for p in audit.contact_pairs(start).tolist()}
    # O3 (phenol) and O8 (carbonyl) are four bonds apart and H-bonded: the contact to watch;
    # C0-O8 is a bond and O8-O9 shares C0, so neither counts; hydrogens never do
    assert (3, 8) in pairs and (0, 8) not in pairs and (8, 9) not in pairs
    assert all(start.numbers[i] > 1 and start.numbers[j] > 1 for i, j in pairs)

    squeezed = start.copy()  # pull the phenol O 0.6 Å toward the carbonyl O, H along with it
    shift = 0.6 * (start.positions[8] - start.positions[3]) / start.get_distance(3, 8)
    squeezed.positions[[3, 10]] += shift
    frames = []
    for t, atoms in enumerate((start, squeezed)):
        atoms.info.update(replica=0, time_fs=10.0 * t)
        frames.append(atoms)
    path = tmp_path / "frames.xyz"
    write(path, frames, format="extxyz")
    reference = ROOT / "datasets" / "md17_gfn2" / "salicylic.h5"
    audit.main(
        [
            str(path),
            "--every",
            "1",
            "--window-ps",
            "1",
            "--reference",
            str(reference),
            "--json",
            str(tmp_path / "rows.json"),
        ]
    )
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert len(rows) == 2
    # the shipped model reproduces GFN2-xTB on the MD17 starting structure
    assert abs(rows[0]["energy_offset_eV"]) < 0.1 and rows[0]["force_mae_meV_A"] < 100
    for row, atoms in zip(rows, frames):  # the closest contact, by hand, with the start's pairs
        by_hand = min((atoms.get_distance(i, j), [i, j]) for i, j in sorted(pairs))
        assert row["closest_contact_A"] == pytest.approx(by_hand[0], abs=1e-6)
        assert row["closest_pair"] == by_hand[1]
    # squeezing the phenol O in brings a contact closer than anything in the start
    assert 3 in rows[1]["closest_pair"] and rows[1]["closest_contact_A"] < rows[0]["closest_contact_A"] - 0.2
    # the reference's closest approach of a pair, against a plain loop over the store
    from equipot.data.store import FrameStore

    closest = audit.reference_closest(reference, np.array([[3, 8], [4, 7]]))
    with FrameStore(reference) as store:
        by_hand = min(store.to_atoms(k).get_distance(3, 8) for k in range(0, len(store)))
    assert closest[(3, 8)] == pytest.approx(by_hand, abs=1e-9) and set(closest) == {(3, 8), (4, 7)}
    i, j = rows[1]["closest_pair"]
    out = capsys.readouterr().out
    assert f"{start.get_chemical_symbols()[i]}{i}-{start.get_chemical_symbols()[j]}{j}" in out
    # the worst-frames table lists the frames by force error, the larger first
    worst = out.split("largest force MAE")[1].splitlines()
    listed = [float(line.split("|")[2]) for line in worst if line.startswith("| 0 |")]
    by_error = sorted(rows, key=lambda r: -r["force_mae_meV_A"])
    assert listed == [pytest.approx(r["time_ps"], abs=0.005) for r in by_error]


def test_replay_monitors_finds_when_each_criterion_would_fire(tmp_path):
    """Saved frames replayed offline: replica 0 is GFN2-xTB's own salicylic trajectory (never
    fires), replica 1 is shrunk by 15 % about its centre from 30 fs (heavy pairs more than two
    bonds apart, 2.5 Å and more, close in by 0.37 Å and more, past the 0.25 Å margin, while no
    bond changes by 0.3 Å: only the contact criterion fires), replica 2 has a hydrogen pulled
    0.8 Å off the atom it is bonded to from 20 fs (only the bond criterion)."""
    from ase.io import write

    from equipot.data.store import FrameStore

    replay = _load("replay_monitors")
    start = read(ROOT / "equipot" / "geometries" / "salicylic.xyz")
    with FrameStore(ROOT / "datasets" / "md17_gfn2" / "salicylic.h5") as store:
        reference = store.trajectory_positions()
    frames = []
    for rep in range(3):
        for k in range(5):
            atoms = start.copy()
            atoms.positions = reference[100 * k + rep].copy()
            if rep == 1 and k >= 2:
                centre = atoms.positions.mean(axis=0)
                atoms.positions = centre + 0.85 * (atoms.positions - centre)
            if rep == 2 and k >= 1:
                h = int(np.flatnonzero(start.numbers == 1)[0])
                d = np.linalg.norm(start.positions - start.positions[h], axis=1)
                c = int(np.argmin(np.where(start.numbers > 1, d, np.inf)))
                bond = atoms.positions[h] - atoms.positions[c]
                atoms.positions[h] += 0.8 * bond / np.linalg.norm(bond)
            atoms.info.update(replica=rep, time_fs=10.0 * (k + 1))
            frames.append(atoms)
    path = tmp_path / "frames_salicylic.xyz"
    write(path, frames, format="extxyz")
    rows = replay.replay_file(path, ROOT / "datasets" / "md17_gfn2")
    assert [r["replica"] for r in rows] == [0, 1, 2] and all(r["frames"] == 5 for r in rows)
    calm, squeezed, pulled = rows
    assert calm["bond_fires_ps"] is None and calm["contact_fires_ps"] is None
    assert calm["contact_headroom_A"] >= 0.25 - 1e-9  # reference frames sit at or above its minimum
    assert squeezed["bond_fires_ps"] is None and squeezed["contact_fires_ps"] == pytest.approx(0.03)
    assert squeezed["contact_headroom_A"] < -0.1 and squeezed["max_bond_deviation_A"] < 0.5
    assert pulled["bond_fires_ps"] == pytest.approx(0.02) and pulled["contact_fires_ps"] is None
    assert pulled["max_bond_deviation_A"] > 0.5
    text = replay.table(rows)
    assert text.count("\n") == 4 and "| salicylic | 1 | 5 (0.05) |" in text


def test_md17_study_runs_in_pieces(tmp_path):
    """A study stopped after 0.01 ps and resumed to 0.02 ps keeps the frames and h(r) of one
    uninterrupted 0.02 ps run."""
    study = _load("md17_stability")
    common = [
        "--molecules",
        "ethanol",
        "--replicas",
        "2",
        "--quiet",
        "--model",
        "md17-gfn2",
        "--dtype",
        "float64",
        "--nve-duration-ps",
        "0",
        "--restart-every",
        "10",
    ]
    study.main([*common, "--duration-ps", "0.02", "--out", str(tmp_path / "whole")])
    study.main([*common, "--duration-ps", "0.01", "--out", str(tmp_path / "pieces")])
    study.main([*common, "--duration-ps", "0.02", "--out", str(tmp_path / "pieces"), "--resume"])
    whole, pieces = (
        json.loads((tmp_path / d / "results.json").read_text())["nvt"]["molecules"]["ethanol"]
        for d in ("whole", "pieces")
    )
    assert pieces["frames"] == whole["frames"] == 4
    assert pieces["stable_ps"] == whole["stable_ps"] == [pytest.approx(0.02)] * 2
    assert pieces["hr_mae"] == pytest.approx(whole["hr_mae"], abs=1e-12)


def test_nvt_stability_books_failures_per_molecule(tmp_path):
    """``equipot.dynamics.stability.nvt_stability``: two molecules batched; ethanol's reference
    trajectory stretched by 1.5x puts every bond 0.7-0.8 Å from its reference mean, so both
    ethanol replicas fail at the first check on the bond monitor, while water (true reference)
    runs to the end; each molecule's frames are its own."""
    from ase.build import molecule

    from equipot.data.readers import read_structure
    from equipot.dynamics.stability import RECORD_EVERY, nvt_stability

    ethanol, water = read_structure("ethanol"), molecule("H2O")
    water.center()
    starts = {"ethanol": ethanol, "water": water}
    refs = {"ethanol": 1.5 * ethanol.positions[None], "water": water.positions[None]}
    out, frames = nvt_stability(
        "md17-gfn2", starts, refs, replicas=2, duration_ps=0.02, dtype="float64", restart_path=tmp_path / "restart.npz"
    )
    eth, wat = out["molecules"]["ethanol"], out["molecules"]["water"]
    assert eth["failed"] == 2 and eth["monitors"] == ["bond", "bond"] and len(eth["reasons"]) == 2
    assert max(eth["stable_ps"]) < 0.02
    assert wat["failed"] == 0 and wat["monitors"] == [None, None] and wat["stable_ps"] == [pytest.approx(0.02)] * 2
    steps = round(0.02 / 0.0005)
    assert [f.shape for f in frames["water"]] == [(steps // RECORD_EVERY, 3, 3)] * 2
    assert all(f.shape[1:] == (9, 3) for f in frames["ethanol"])
    assert (tmp_path / "restart.npz").is_file()
