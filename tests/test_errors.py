"""The error boundary: every bad input at the command line is one line on stderr and exit
status 2, nothing it names is changed, and a bug still shows its traceback."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from equipot import save_checkpoint
from equipot.cli import main
from equipot.config import coerce, read_yaml
from equipot.errors import EquipotError, MissingDependencyError, require
from tests.conftest import make_model, molecule, write_morse_store

DATA = Path(__file__).resolve().parents[1] / "datasets"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and the hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with a toy model (H, C, O), stores, configs and a finished MD run to damage."""
    root = tmp_path_factory.mktemp("errors")
    save_checkpoint(make_model(species=("H", "C", "O")), root / "toy.pt")
    write_morse_store(root / "store.h5", 12)
    (root / "text.h5").write_text("not hdf5")
    (root / "garbage.xyz").write_bytes(b"\x00\x01garbage\nmore")
    molecule("ethanol").write(root / "ethanol.xyz")
    good = "data: store.h5\nout: run\nepochs: 1\n"
    configs = {
        "syntax.yaml": "data: [store.h5\nepochs: 3\n",
        "batch.yaml": good + "batch_size: -4\n",
        "model_typo.yaml": good + "model: {preset: small, irreps_nod: 8x0e}\n",
        "good.yaml": good,
        "key_typo.yaml": good.replace("epochs", "epoch"),
        "lr_word.yaml": good + "lr: fast\n",
        "preset.yaml": good + "model: {preset: huge}\n",
        "parity.yaml": good + "model: {irreps_node: 8x0e+4x1e}\n",
        "list.yaml": "- data\n- out\n",
        "learn_typo.yaml": "data: store.h5\nstructures: [ethanol]\ntrain: {epochz: 2}\n",
        "learn_missing.yaml": "data: nothing.h5\nstructures: [ethanol]\nout: learn_run\n",
    }
    for name, text in configs.items():
        (root / name).write_text(text)
    assert (
        main(
            [
                "md",
                "ethanol",
                "--model",
                str(root / "toy.pt"),
                "--duration",
                "4steps",
                "--temperature",
                "10",
                "--out",
                str(root / "md_run"),
                "--no-progress",
                "--restart-every",
                "2",
            ]
        )
        == 0
    )
    return root


CASES = {
    "data convert: not the format its name says": ["data", "convert", "garbage.xyz", "-o", "new.h5"],
    "data convert: output exists": ["data", "convert", "ethanol.xyz", "-o", "store.h5"],
    "data convert: missing input": ["data", "convert", "nothing.xyz", "-o", "new.h5"],
    "data info: not HDF5": ["data", "info", "text.h5"],
    "data info: missing": ["data", "info", "nothing.h5"],
    "data split: not HDF5": ["data", "split", "text.h5", "--train", "2"],
    "data generate: unknown molecule": ["data", "generate", "new.h5", "--molecule", "unobtainium"],
    "data generate: into a foreign file": ["data", "generate", "text.h5", "--molecule", "ethanol", "--frames", "1"],
    "train: YAML syntax": ["train", "syntax.yaml"],
    "train: negative batch size": ["train", "batch.yaml"],
    "train: mistyped model key": ["train", "model_typo.yaml"],
    "train: mistyped key": ["train", "key_typo.yaml"],
    "train: a word for a number": ["train", "lr_word.yaml"],
    "train: unknown preset": ["train", "preset.yaml"],
    "train: odd parity": ["train", "parity.yaml"],
    "train: not a mapping": ["train", "list.yaml"],
    "train: missing config": ["train", "nothing.yaml"],
    "train: bad --set": ["train", "batch.yaml", "--set", "epochs"],
    "train: resume with nothing": ["train", "good.yaml", "--resume"],
    "eval: not a checkpoint": ["eval", "text.h5", "store.h5"],
    "eval: missing model": ["eval", "nothing.pt", "store.h5"],
    "md: element the model lacks": ["md", "uracil", "--model", "toy.pt", "--duration", "2steps", "--out", "md_run"],
    "md: same, as replicas": [
        "md",
        "uracil",
        "--model",
        "toy.pt",
        "--duration",
        "2steps",
        "--replicas",
        "2",
        "--out",
        "md_run",
    ],
    "md: unknown structure": ["md", "notamolecule", "--model", "toy.pt", "--out", "md_run"],
    "md: not a checkpoint": ["md", "ethanol", "--model", "text.h5", "--out", "md_run"],
    "md: bad duration": ["md", "ethanol", "--model", "toy.pt", "--duration", "10 parsecs", "--out", "md_run"],
    "md: resume nothing": ["md", "--resume", "nothing"],
    "learn: mistyped train key": ["learn", "learn_typo.yaml"],
    "learn: missing data": ["learn", "learn_missing.yaml"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(workspace, name, capsys, monkeypatch):
    monkeypatch.chdir(workspace)
    before = snapshot(workspace)
    assert main(CASES[name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("equipot: error: "), err
    assert len(err[0]) < 400  # a line a person reads, not a dump
    assert snapshot(workspace) == before  # nothing written, nothing changed


@pytest.mark.parametrize("damage", ["restart", "run_json"])
def test_damaged_run_folder_is_an_error_and_stays_as_it_was(workspace, damage, capsys, tmp_path):
    run = tmp_path / "md_run"
    shutil.copytree(workspace / "md_run", run)
    target = run / ("restart.npz" if damage == "restart" else "run.json")
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
    before = snapshot(run)
    assert main(["md", "--resume", str(run), "--duration", "8steps", "--no-progress"]) == 2
    assert "damaged" in capsys.readouterr().err
    assert snapshot(run) == before


def test_debug_shows_the_traceback_and_bugs_keep_theirs(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    with pytest.raises(EquipotError, match="did you mean 'epochs'"):
        main(["--debug", "train", "key_typo.yaml"])
    monkeypatch.setenv("EQUIPOT_DEBUG", "1")
    with pytest.raises(EquipotError):
        main(["data", "info", "text.h5"])
    # a bug is not a user error: its traceback is shown and the status is 1
    script = (
        "import equipot.data.cli as c, sys; c.run_info = lambda a: 1 / 0; "
        "from equipot.cli import main; sys.exit(main(['data', 'info', 'x']))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1 and "ZeroDivisionError" in result.stderr and "Traceback" in result.stderr


def test_config_values_are_checked_and_converted():
    assert coerce("5e-3", float, "x") == 0.005 and coerce(3, float, "x") == 3.0
    assert coerce("5e-2", float | str, "x") == 0.05 and coerce("auto", float | str, "x") == "auto"
    assert coerce(4.0, int, "x") == 4 and coerce(None, int | None, "x") is None
    assert coerce(("H", "C"), list[str], "x") == ["H", "C"]
    for value, hint in ((True, int), ("four", int), (2.5, int), ("x", bool), ([1, "a"], list[float])):
        with pytest.raises(EquipotError, match="must be"):
            coerce(value, hint, "x")


def test_read_yaml_names_the_line(tmp_path):
    (tmp_path / "c.yaml").write_text("a: 1\nb: [2\nc: 3\n")
    with pytest.raises(EquipotError, match=r"c.yaml: YAML syntax error at line 3"):
        read_yaml(tmp_path / "c.yaml")


def test_learn_config_reads_numbers_as_numbers():
    from equipot.learn.config import LearnConfig

    config = LearnConfig.from_dict({"data": "x.h5", "structures": "ethanol", "lower": "5e-2", "upper": "1e0"})
    assert config.lower == 0.05 and config.upper == 1.0 and config.structures == ["ethanol"]


def test_missing_optional_package_names_its_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'equipot\[xtb\]'") as err:
        require("equipot_no_such_package", "xtb", "GFN2-xTB labels")
    assert isinstance(err.value, ImportError) and isinstance(err.value, ValueError)


def test_structures_that_cannot_be_evaluated_fail_before_md(tmp_path):
    from ase import Atoms

    from equipot.calculator import EquiformerCalculator
    from equipot.dynamics.md import run_md
    from equipot.dynamics.replicas import ReplicaDynamics
    from equipot.errors import StructureError

    model = make_model(species=("H", "C", "O"))
    ethanol = molecule("ethanol")
    overlapping = ethanol.copy()
    overlapping.positions[1] = overlapping.positions[0] + 0.05
    nan = ethanol.copy()
    nan.positions[2, 0] = np.nan
    tiny_cell = Atoms("CH4", positions=molecule("ethanol").positions[:5], cell=np.diag([1e-8, 5, 5]), pbc=True)
    for atoms in (overlapping, nan, tiny_cell):
        atoms.calc = EquiformerCalculator(model)
        with pytest.raises(StructureError):
            run_md(atoms, temperature_K=300, steps=2, report_dir=tmp_path / "md", progress=False)
        assert not (tmp_path / "md").exists()
        if not atoms.pbc.any():  # replicas run isolated molecules
            with pytest.raises(StructureError):
                ReplicaDynamics(model, [atoms.copy()], temperature_K=300)


def test_a_run_shorter_than_its_intervals_still_reports(tmp_path):
    from equipot.calculator import EquiformerCalculator
    from equipot.dynamics.md import run_md

    atoms = molecule("ethanol")
    atoms.calc = EquiformerCalculator(make_model(species=("H", "C", "O")))
    result = run_md(atoms, temperature_K=10, steps=3, traj_every=50, log_every=50, report_dir=tmp_path, progress=False)
    report = json.loads((tmp_path / "report.json").read_text())
    assert result.steps_done == 3 and report["settings"]["steps_done"] == 3 and report["failure"] is None
    assert report["replicas"] == [
        {
            "replica": 0,
            "time_ps": pytest.approx(0.0015),
            "monitor": None,
            "reason": None,
            "drift": None,
            "hr_error": None,
        }
    ]


def test_single_and_replica_reports_share_their_keys(workspace, tmp_path):
    common = [
        "md",
        "ethanol",
        "--model",
        str(workspace / "toy.pt"),
        "--duration",
        "4steps",
        "--temperature",
        "10",
        "--no-progress",
    ]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--replicas", "2", "--out", str(tmp_path / "two")]) == 0
    one, two = (json.loads((tmp_path / name / "report.json").read_text()) for name in ("one", "two"))
    assert {"settings", "result", "replicas"} <= set(one) & set(two)
    assert set(one["replicas"][0]) == set(two["replicas"][1]) and len(two["replicas"]) == 2
    shared = set(one["settings"]) & set(two["settings"])
    assert {"ensemble", "temperature_K", "timestep_fs", "steps", "steps_done", "monitors", "n_atoms"} <= shared
    assert one["result"]["steps_done"] == two["result"]["steps_done"] == 4


def test_help_does_not_import_torch():
    script = "import sys\nfrom equipot.cli import build_parser\nbuild_parser()\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    help_text = subprocess.run(
        [sys.executable, "-m", "equipot", "train", "--help-config"], capture_output=True, text=True, check=True
    ).stdout
    assert "batch_size: int = 4" in help_text and "irreps_node: str" in help_text


def test_a_mistyped_model_name_gets_the_close_shipped_names():
    from equipot.checkpoint import load_model

    with pytest.raises(EquipotError, match="did you mean aspirin-gfn2 or "):
        load_model("aspirin-gfn")
    with pytest.raises(EquipotError, match="shipped models: .*md17-gfn2, polymers-gfn2"):
        load_model("nothing.pt")
