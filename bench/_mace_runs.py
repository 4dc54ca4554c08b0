"""MACE driven from equipot's environment, as the benchmarks that put it beside equipot share it:
its documented recipe (``mace_run_train`` arguments), training runs that continue one another,
the training time read from its log, and evaluation through ``_mace_fit_side.py`` in MACE's own
environment (mace-torch 0.3.16 pins e3nn 0.4.4, so equipot never imports it). Every step's result
is cached as JSON, so an interrupted benchmark reruns only what is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

SIDE = Path(__file__).with_name("_mace_fit_side.py")
# e3nn 0.4.4 (MACE's pin) torch.loads its own constants the pre-2.6 way
MACE_ENV = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}


def mace_recipe(args, work: Path, epochs: int) -> list[str]:
    """MACE's documented settings for a MACE L=1 model, as ``mace_run_train`` arguments."""
    return [
        "--name",
        "mace",
        "--train_file",
        str(work / "train.xyz"),
        "--valid_file",
        str(work / "valid.xyz"),
        "--energy_key",
        "REF_energy",
        "--forces_key",
        "REF_forces",
        "--E0s",
        "average",
        "--model",
        "MACE",
        "--hidden_irreps",
        args.mace_irreps,
        "--max_L",
        "1",
        "--correlation",
        "3",
        "--num_interactions",
        "2",
        "--r_max",
        "5.0",
        "--batch_size",
        "5",
        "--valid_batch_size",
        "10",
        "--max_num_epochs",
        str(epochs),
        "--lr",
        "0.01",
        "--energy_weight",
        "1.0",
        "--forces_weight",
        "100.0",
        "--ema",
        "--ema_decay",
        "0.99",
        "--amsgrad",
        "--device",
        args.mace_device,
        "--default_dtype",
        "float64",
        "--seed",
        str(args.seed),
        "--model_dir",
        str(work),
        "--checkpoints_dir",
        str(work / "checkpoints"),
        "--results_dir",
        str(work / "results"),
        "--log_dir",
        str(work / "logs"),
    ]


def labelled(frame):
    """An ``ase.Atoms`` with the frame's labels as MACE reads them (REF_energy, REF_forces)."""
    atoms = frame.to_atoms()
    atoms.calc = None
    atoms.info["REF_energy"] = float(frame.energy)
    atoms.arrays["REF_forces"] = frame.forces
    return atoms


def cached(path: Path, make, *args):
    """The JSON in ``path``, or ``make(*args)``'s result written there."""
    if path.is_file():
        return json.loads(path.read_text())
    result = make(*args)
    path.write_text(json.dumps(result, indent=1))
    return result


def mace_runs(args, work: Path) -> dict[int, dict]:
    """MACE trained for each of ``--mace-epochs``, shortest first: ``{epochs: {"minutes", "model", ...}}``.

    A longer run continues the longest one already done from MACE's latest checkpoint
    (``--restart_latest``), so rows for 24, 39 and 60 epochs cost one 60-epoch run (plus the
    epoch MACE repeats at each resume); its minutes include those of the run it continued."""
    runs: dict[int, dict] = {}
    for epochs in sorted(set(args.mace_epochs)):
        done = max(runs, default=None)
        runs[epochs] = cached(work / f"mace-{epochs}ep_train.json", train_mace, args, work, epochs, runs.get(done))
        logged = mace_log_minutes(work, epochs)
        if logged is not None:  # the training loop's time, as equipot's metrics.csv counts its own
            runs[epochs] = {**runs[epochs], "wall_minutes": runs[epochs]["minutes"], "minutes": logged}
    return runs


def mace_log_minutes(work: Path, epochs: int) -> float | None:
    """Minutes MACE's training loop took to finish ``epochs`` epochs, from the time stamps of its
    log: from each run's "Started training" to its last "Epoch N:" line, summed over the run and
    the runs it continued. Leaves out MACE's setup and the error tables it computes on the whole
    training and validation sets after training, which on large sets take as long as an epoch.
    None without a log that reaches that epoch."""
    import re
    from datetime import datetime

    logs = sorted(p for p in (work / "logs").glob("*.log") if "debug" not in p.name)
    total, start, last = 0.0, None, None
    for line in logs[0].read_text().splitlines() if len(logs) == 1 else []:
        try:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        except ValueError:
            continue
        if "Started training" in line:
            total += (last - start) if start is not None and last is not None else 0.0
            start, last = stamp, None
        epoch = re.search(r" Epoch (\d+):", line)
        if epoch and start is not None:
            last = stamp
            if int(epoch.group(1)) + 1 >= epochs:
                return (total + last - start) / 60
    return None


def train_mace(args, work: Path, epochs: int, before: dict | None) -> dict:
    """MACE's recipe for ``epochs`` epochs, continuing ``before`` (a shorter run's record) if given."""
    import shutil

    command = [str(Path(args.mace_python).with_name("mace_run_train")), *mace_recipe(args, work, epochs)]
    if before:
        command.append("--restart_latest")
    t0 = time.perf_counter()
    subprocess.run(command, check=True, env=MACE_ENV)
    minutes = (time.perf_counter() - t0) / 60 + (before.get("wall_minutes", before["minutes"]) if before else 0.0)
    model = work / f"mace-{epochs}ep.model"
    shutil.copy(work / "mace.model", model)
    return {
        "minutes": minutes,
        "device": args.mace_device,
        "model": str(model),
        "continued_from": before and before["epochs"],
        "epochs": epochs,
    }


def evaluate_mace(mace_python: str, model_path: str, work: Path, labels=("test",)) -> dict:
    """Force and energy MAE of a MACE model on ``work/<label>.xyz`` for each label, in float64."""
    out = {}
    for label in labels:
        result = subprocess.run(
            [mace_python, str(SIDE), "evaluate", model_path, "float64", str(work / f"{label}.xyz")],
            capture_output=True,
            text=True,
            check=True,
            env=MACE_ENV,
        )
        out[label] = json.loads(result.stdout.strip().splitlines()[-1])
    return out
