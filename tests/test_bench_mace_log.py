"""bench/_mace_runs.py reads MACE's training time from its log, as equipot's metrics.csv
counts its own: the training loop only, summed over a run and the runs it continued."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from _mace_runs import mace_log_minutes  # noqa: E402

LOG = """\
2026-12-02 01:54:10.000 INFO: Number of gradient updates: 1920
2026-12-02 01:54:20.000 INFO: Started training, reporting errors on validation set
2026-12-02 01:57:20.000 INFO: Initial: head: Default, loss=9.5, RMSE_F= 1040.22 meV / A
2026-12-02 02:42:20.000 INFO: Epoch 0: head: Default, loss=0.097, RMSE_F=  103.18 meV / A
2026-12-02 02:52:20.000 INFO: Epoch 1: head: Default, loss=0.090, RMSE_F=   98.00 meV / A
2026-12-02 03:30:00.000 INFO: Computing metrics for training, validation, and test sets
2026-12-02 04:00:00.000 INFO: Started training, reporting errors on validation set
2026-12-02 04:10:00.000 INFO: Epoch 1: head: Default, loss=0.090, RMSE_F=   97.00 meV / A
2026-12-02 04:20:00.000 INFO: Epoch 2: head: Default, loss=0.080, RMSE_F=   90.00 meV / A
"""


def test_training_minutes_from_the_log(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "mace_run-0.log").write_text(LOG)
    (tmp_path / "logs" / "mace_run-0_debug.log").write_text("not read\n")
    assert mace_log_minutes(tmp_path, 1) == pytest.approx(48.0)  # start to epoch 0, not the error tables
    assert mace_log_minutes(tmp_path, 2) == pytest.approx(58.0)
    assert mace_log_minutes(tmp_path, 3) == pytest.approx(58.0 + 20.0)  # a continued run adds its own loop
    assert mace_log_minutes(tmp_path, 4) is None  # no epoch 4 logged: the caller keeps the wall time
    assert mace_log_minutes(tmp_path / "none", 1) is None
