"""Full-batch least squares: a problem whose divergent learning rate is known (2/L), shared by the tests of the
range test and of the stability probe."""

import torch
from torch import nn


def least_squares(seed=0, n=64, d=8):
    """Returns (model, data, L): a zero-initialised linear model, one full batch, and L, the largest eigenvalue
    of the Hessian of :func:`half_mse` (gradient descent diverges above 2/L)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    y = x @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.1 * torch.randn(n, 1, generator=g,
                                                                                    dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    nn.init.zeros_(model.weight)
    # loss = mean((xw - y)^2) / 2  ->  Hessian = x^T x / n
    hessian = x.T @ x / n
    return model, [(x, y)], float(torch.linalg.eigvalsh(hessian).max())


def half_mse(out, y):
    return 0.5 * torch.mean((out - y) ** 2)
