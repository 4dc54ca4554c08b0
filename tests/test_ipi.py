"""equipot as an i-PI force server: a 4-bead path-integral run served by two clients over a
unix socket; its step-0 potential is the calculator's (every bead starts at the same geometry)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from equipot import EquiformerCalculator
from equipot.data.readers import read_structure

pytest.importorskip("ipi", reason="the i-PI route needs the engines extra: pip install -e '.[engines]'")

INPUT = Path(__file__).resolve().parents[1] / "docs" / "ipi" / "pimd_aspirin.xml"
MODEL = "aspirin-gfn2-small"


def test_pimd_with_two_clients(tmp_path):
    atoms = read_structure("aspirin")
    atoms.set_cell([30.0, 30.0, 30.0])
    atoms.center()
    with open(tmp_path / "aspirin_ipi.xyz", "w") as fh:  # i-PI's xyz: cell and units in the comment
        fh.write(
            f"{len(atoms)}\n# CELL(abcABC): 30.0 30.0 30.0 90.0 90.0 90.0 positions{{angstrom}} cell{{angstrom}}\n"
        )
        for symbol, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions):
            fh.write(f"{symbol} {x:.10f} {y:.10f} {z:.10f}\n")
    atoms.write(tmp_path / "start.extxyz")
    socket = f"equipot-test-{os.getpid()}"
    xml = INPUT.read_text().replace("<total_steps>2000", "<total_steps>3").replace("nbeads='8'", "nbeads='4'")
    xml = xml.replace("equipot-pimd", socket).replace("stride='10' filename='out'", "stride='1' filename='out'")
    (tmp_path / "input.xml").write_text(xml)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    clients: list[subprocess.Popen] = []
    server = subprocess.Popen(
        [str(bin_dir / "i-pi"), "input.xml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.time() + 60
        while not Path(f"/tmp/ipi_{socket}").exists():
            assert server.poll() is None and time.time() < deadline, server.stdout.read()
            time.sleep(0.2)
        clients += [
            subprocess.Popen(
                [
                    str(bin_dir / "equipot"),
                    "ipi-client",
                    "start.extxyz",
                    "--model",
                    MODEL,
                    "--address",
                    f"unix:{socket}",
                ],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        server.wait(timeout=600)
        for client in clients:
            client.wait(timeout=60)
            assert client.returncode == 0, client.stdout.read()
    finally:
        for proc in [server, *clients]:
            if proc.poll() is None:
                proc.kill()
    rows = np.loadtxt(tmp_path / "pimd.out")
    assert rows.shape[0] == 4 and np.all(np.isfinite(rows))
    atoms.calc = EquiformerCalculator(MODEL)
    # i-PI prints 9 digits, and its eV differs from ASE's (CODATA) by about 1e-7 of the value
    assert rows[0, 5] == pytest.approx(atoms.get_potential_energy(), rel=2e-7)


def test_client_without_server_is_a_clear_error(capsys):
    from equipot.cli import main

    assert main(["ipi-client", "aspirin", "--model", MODEL, "--address", "unix:equipot-no-such-server"]) == 2
    assert "no i-PI server listening at unix:equipot-no-such-server" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unix:NAME or HOST:PORT"):
        from equipot.ipi import parse_address

        parse_address("nowhere")
