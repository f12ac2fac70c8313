"""One process of the data-parallel tests (``tests/test_distributed.py``), run by ``torchrun`` or alone.

Each rank writes what it computed to ``OUT/rank-N``: through the run-directory functions the commands use (a range
test and 1cycle training of the settings below at ``BATCH`` images per process), and through the library API as a
user's own DDP script calls it (a ``DistributedDataParallel`` model, a ``DistributedSampler``, ``range_test``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from onecycle import distributed
from onecycle.config import from_dict
from onecycle.experiment import find_lr, prepare, train_run
from onecycle.range_test import range_test

SETTINGS = {"dataset": "digits", "model": "mlp", "epochs": 12, "num_steps": 40, "progress": False, "threads": 1,
            "checkpoint_every_steps": 7}
MAX_LR, WEIGHT_DECAY = 0.1, 1e-3


def user_script_range_test() -> dict:
    """A range test as a user's own DDP script runs it: its model, its sampler, its loader."""
    torch.manual_seed(0)
    x = torch.randn(512, 20)
    y = (x @ torch.randn(20, 4)).argmax(1)  # learnable: the loss falls before it explodes
    sampler = DistributedSampler(TensorDataset(x, y), shuffle=True, seed=0) if distributed.active() else None
    loader = DataLoader(TensorDataset(x, y), batch_size=16, sampler=sampler, shuffle=sampler is None)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    ddp = nn.parallel.DistributedDataParallel(model) if distributed.active() else model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = range_test(ddp, torch.optim.SGD(ddp.parameters(), lr=1e-3, momentum=0.9), loader, F.cross_entropy,
                        num_steps=60, seed=0)
    unchanged = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    return {"losses": result.losses, "max_lr": result.max_lr, "unchanged": unchanged}


def main(out: str, batch_size: int) -> None:
    if distributed.launched():
        distributed.init_from_launcher(use_cuda=False)
    run_dir = Path(out) / f"rank-{distributed.rank()}"
    run_dir.mkdir(parents=True)
    setup = prepare(from_dict({**SETTINGS, "batch_size": batch_size}), say=lambda _: None)
    find_lr(setup, run_dir, WEIGHT_DECAY)
    state = train_run(setup, run_dir, MAX_LR, WEIGHT_DECAY)
    torch.save(distributed.unwrap(state.model).state_dict(), run_dir / "weights.pt")
    (run_dir / "user.json").write_text(json.dumps(user_script_range_test()))
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
