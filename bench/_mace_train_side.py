"""MACE side of bench/train_throughput.py (runs in the MACE environment, see mace_compare.py).

Trains a random-weight ScaleShiftMACE (the model of ``_mace_side.py``) on the frames of an
extxyz file (``REF_energy`` / ``REF_forces``): energy + force MSE, AdamW, batches of the given
size; prints frames/s over the timed steps and the parameter count as JSON.
"""

import json
import sys
import time

import torch
from _mace_side import build
from ase.io import read
from mace import data, tools
from mace.tools import torch_geometric


def main() -> None:
    xyz, hidden, dtype, batch_size, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    torch.set_default_dtype(getattr(torch, dtype))
    model = build(hidden).to(getattr(torch, dtype))
    keys = data.KeySpecification(info_keys={"energy": "REF_energy"}, arrays_keys={"forces": "REF_forces"})
    z_table = tools.AtomicNumberTable([1, 6, 7, 8])
    graphs = [
        data.AtomicData.from_config(data.config_from_atoms(a, key_specification=keys), z_table=z_table, cutoff=5.0)
        for a in read(xyz, ":")
    ]
    loader = torch_geometric.dataloader.DataLoader(graphs, batch_size=batch_size, shuffle=True, drop_last=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(batch) -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(batch.to_dict(), training=True, compute_force=True)
        n = batch.ptr[1:] - batch.ptr[:-1]
        loss = torch.mean(((out["energy"] - batch.energy) / n) ** 2) + 80 * torch.mean(
            (out["forces"] - batch.forces) ** 2
        )
        loss.backward()
        optimizer.step()

    batches = []
    while len(batches) < steps + 2:
        batches += list(loader)
    for batch in batches[:2]:  # warm-up
        step(batch)
    t0 = time.perf_counter()
    for batch in batches[2 : steps + 2]:
        step(batch)
    elapsed = time.perf_counter() - t0
    print(
        json.dumps(
            {"frames_per_s": steps * batch_size / elapsed, "parameters": sum(p.numel() for p in model.parameters())}
        )
    )


if __name__ == "__main__":
    main()
