"""A small network, batches and a snapshot of everything a range test or a probe must put back, shared by their
tests."""

import copy
import random

import numpy as np
import torch
from torch import nn


def bn_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
    )


def small_batches(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(n)]


def state_of(model, opt):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        copy.deepcopy(opt.state_dict()),
        torch.get_rng_state(),
        np.random.get_state()[1].copy(),
        random.getstate(),
        model.training,
    )


def assert_same_state(a, b):
    assert a[0].keys() == b[0].keys()
    for k in a[0]:
        assert torch.equal(a[0][k], b[0][k]), k
    oa, ob = a[1], b[1]
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys()
    for k in oa["state"]:
        for name, v in oa["state"][k].items():
            w = ob["state"][k][name]
            assert torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w
    assert torch.equal(a[2], b[2])
    assert np.array_equal(a[3], b[3])
    assert a[4] == b[4] and a[5] == b[5]


def trained(opt_kind, steps):
    """:func:`bn_model` with an SGD (Nesterov, weight decay) or AdamW optimizer after ``steps`` training steps on
    :func:`small_batches` (momentum buffers, BatchNorm statistics and step counters to put back), and the batches."""
    model = bn_model()
    if opt_kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    data = small_batches()
    for x, y in data[:steps]:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, opt, data
