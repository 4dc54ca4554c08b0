"""Data-parallel training (two gloo processes on CPU) equals one process on the same global batch."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from tests.conftest import TINY, write_morse_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(store, out):
    from equipot.train import TrainConfig

    # 8 training frames in global batches of 3 (3, 3, 2): each batch splits unequally over 2 ranks
    # (2+1, 2+1, 1+1), so the unequal-share weighting is exercised.
    return TrainConfig(
        data=str(store),
        out=str(out),
        train_size=8,
        val_size=2,
        test_size=0,
        epochs=1,
        batch_size=3,
        lr=5e-3,
        warmup_epochs=0,
        ema_decay=0.5,
        progress=False,
        seed=3,
        model={"preset": "small", **TINY, "num_blocks": 1, "cutoff": 4.0},
    )


def _worker(rank: int, world: int, port: int, store: str, out: str) -> None:
    import torch.distributed as dist

    from equipot.train import Trainer

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        trainer = Trainer(_config(store, out))
        trainer.fit()
        if rank == 1:  # rank 1's weights must equal rank 0's (saved) ones too
            torch.save({k: v.clone() for k, v in trainer.model.state_dict().items()}, os.path.join(out, "rank1.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture
def store(tmp_path):
    # unequal sizes: shares by atoms differ from shares by frames
    return write_morse_store(tmp_path / "morse.h5", 10, vary_size=True)


def test_two_gloo_processes_equal_single_process(store, tmp_path):
    from equipot.train import Trainer

    single = Trainer(_config(store, tmp_path / "single"))
    single.fit()
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(store), str(out)), nprocs=2, join=True)
    ddp_last = torch.load(out / "last.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    bad = []
    for name, p in single.model.state_dict().items():
        q = ddp_last["training_state"]["model"][name]
        assert torch.equal(q, rank1[name]), f"ranks disagree on {name}"
        # same global batch, gradients summed in another order: equal to float32 rounding.
        # The output bias cancels in h(x_i) - h(x_i^isolated): its true gradient is 0, the
        # computed one is rounding noise, and Adam normalises noise to a full lr-sized step.
        if name == "network.head.linear_out.bias":
            continue
        if not torch.allclose(q, p, rtol=1e-4, atol=1e-6):
            bad.append((name, float((q - p).abs().max())))
    assert not bad, bad
    assert ddp_last["training_state"]["epoch"] == 1
    # validation frames shared out over the ranks and merged: the metrics of the whole set
    mine, theirs = ddp_last["training_state"]["history"][-1], single.history[-1]
    for key in ("val_loss", "val_force_mae", "val_energy_rmse"):
        assert mine[key] == pytest.approx(theirs[key], rel=1e-4), key


def test_train_procs_launches_data_parallel_processes(store, tmp_path):
    """``equipot train CONFIG --procs 2`` runs two processes that train as one would."""
    import subprocess
    import sys
    from dataclasses import asdict

    import yaml

    from equipot.train import Trainer

    single = Trainer(_config(store, tmp_path / "single"))
    single.fit()
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(asdict(_config(store, tmp_path / "procs"))))
    done = subprocess.run(
        [sys.executable, "-m", "equipot", "train", str(config), "--procs", "2", "--set", "num_threads=2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("best epoch 1") == 1, done.stdout  # one report, from rank 0
    last = torch.load(tmp_path / "procs" / "last.pt", weights_only=True)
    assert last["metadata"]["train_config"]["num_threads"] == 1  # two threads shared out over two
    state = last["training_state"]
    for name, p in single.model.state_dict().items():
        if name != "network.head.linear_out.bias":  # rounding noise, see the test above
            assert torch.allclose(state["model"][name], p, rtol=1e-4, atol=1e-6), name


def test_train_procs_must_be_positive(store, tmp_path, capsys):
    from equipot.cli import main

    config = tmp_path / "run.yaml"
    config.write_text(f"data: {store}\nout: {tmp_path / 'out'}\n")
    assert main(["train", str(config), "--procs", "0"]) == 2
    assert "--procs must be at least 1" in capsys.readouterr().err
