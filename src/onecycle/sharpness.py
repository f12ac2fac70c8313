"""Sharpness: the top eigenvalues of the Hessian of the loss at a model's weights, by the Lanczos method on
Hessian-vector products (double backward), over a fixed list of batches. High learning rates are said to find flatter
minima; the largest eigenvalue is the measure of how sharp a minimum is."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from onecycle import records
from onecycle.distributed import unwrap
from onecycle.range_test import SEED_RANGE

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LanczosDefaults:
    """The defaults of :func:`top_eigenvalues`, also those of ``onecycle sharpness``."""

    k: int = 1
    tol: float = 1e-3
    max_iter: int = 100
    seed: int = 0


LANCZOS = LanczosDefaults()

MIN_ITERATIONS = 20
"""The Lanczos iterations before convergence is checked (fewer when the parameters are fewer): a Krylov space of a
few vectors may not hold the top eigenvalue at all yet (the random start's component along its eigenvector can be
small), while a lower one already meets the tolerance."""


@dataclass(frozen=True)
class SharpnessResult:
    """The top eigenvalues of a Hessian, largest first, with each Ritz pair's residual norm ``‖H u − θ u‖`` (a
    bound on the distance from its value to an eigenvalue of the Hessian), the Lanczos iterations taken (one
    Hessian-vector product over all the batches each), whether every wanted value met the tolerance, and the number
    of examples the loss was averaged over."""

    eigenvalues: list[float]
    residuals: list[float]
    iterations: int
    converged: bool
    samples: int

    @property
    def top(self) -> float:
        """The largest eigenvalue: the sharpness."""
        return self.eigenvalues[0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> SharpnessResult:
        """The inverse of :meth:`to_dict`, every value checked: one ``ValueError`` naming the key (inside
        ``where``) for a value missing, unknown or of the wrong kind."""
        names = [f.name for f in fields(cls)]
        d = records.table(data, where or "the result", names, names)

        def key(name: str) -> str:
            return records.key(where, name)

        eigenvalues = records.numbers_list(d["eigenvalues"], key("eigenvalues"))
        residuals = records.numbers_list(d["residuals"], key("residuals"), at_least=0.0)
        if not eigenvalues or len(residuals) != len(eigenvalues):
            raise ValueError(f"{key('eigenvalues')} and {key('residuals')} must be non-empty and of one length, got "
                             f"{len(eigenvalues)} and {len(residuals)}")
        if eigenvalues != sorted(eigenvalues, reverse=True):
            raise ValueError(f"{key('eigenvalues')} must be in descending order, got {records.shown(eigenvalues)}")
        return cls(eigenvalues, residuals, records.integer(d["iterations"], key("iterations"), 1),
                   records.flag(d["converged"], key("converged")), records.integer(d["samples"], key("samples"), 1))

    def __str__(self) -> str:
        values = ", ".join(f"{v:.6g}" for v in self.eigenvalues)
        state = "converged" if self.converged else "NOT converged (raise max_iter or tol)"
        return (f"top Hessian eigenvalue(s): {values} ({state} after {self.iterations} Lanczos iterations, loss "
                f"averaged over {self.samples} examples)")


def _check(name: str, ok: bool, allowed: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {records.shown(value)}")


def _integer(value: Any, least: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least


def check_lanczos(k: Any, tol: Any, max_iter: Any, seed: Any, origins: records.Origins | None = None) -> None:
    """Raise a ``ValueError`` naming the first of :func:`top_eigenvalues`'s Lanczos settings that is not one (and,
    given ``origins``, where its value came from: ``from --k``)."""
    values = {"k": k, "tol": tol, "max_iter": max_iter, "seed": seed}
    low, high = SEED_RANGE
    for name, ok, allowed in (
            ("k", _integer(k, 1), "an integer >= 1"),
            ("tol", isinstance(tol, numbers.Real) and not isinstance(tol, bool) and 0 < tol < 1, "a number in (0, 1)"),
            ("max_iter", _integer(max_iter, 1), "an integer >= 1"),
            ("seed", _integer(seed, low) and seed <= high, "an integer from -2**63 to 2**64 - 1")):
        if not ok:
            where = "" if origins is None else f" ({origins.get(name, 'default')})"
            raise ValueError(f"{name} must be {allowed}, got {records.shown(values[name])}{where}")
    said = records.naming(values.__getitem__, origins)
    if max_iter < k:
        raise ValueError(f"{said('max_iter')} must be at least {said('k')}: each Lanczos iteration adds one "
                         "eigenvalue estimate")


def _batches(batches: Iterable[Any], device: torch.device) -> list[Batch]:
    """``batches`` as a list of ``(inputs, targets)`` on ``device``; anything else is a ``ValueError``."""
    _check("batches", isinstance(batches, Iterable) and not isinstance(batches, (str, bytes, torch.Tensor)),
           "an iterable of (inputs, targets) batches", batches)
    out = []
    for i, batch in enumerate(batches):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], torch.Tensor)
                and batch[0].dim() >= 1 and batch[0].shape[0] >= 1):
            raise ValueError(f"batches[{i}] must be a pair (inputs, targets), the inputs a tensor with a batch "
                             f"dimension, got {records.shown(batch)}")
        x, y = batch
        out.append((x.to(device), y.to(device) if isinstance(y, torch.Tensor) else y))
    if not out:
        raise ValueError("batches must hold at least one batch, got none")
    return out


class _Hessian:
    """Products of the Hessian of the mean loss over ``batches`` with flat vectors, by double backward, each
    batch's Hessian weighted by its share of the examples."""

    def __init__(self, model: nn.Module, loss_fn: Callable[..., torch.Tensor], batches: Sequence[Batch],
                 params: list[torch.Tensor]) -> None:
        self.model, self.loss_fn, self.batches, self.params = model, loss_fn, batches, params
        self.samples = sum(int(x.shape[0]) for x, _ in batches)

    def _forward(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """The model's output for the inputs ``x`` of ``batches[i]``; floating-point inputs of another dtype than the
        parameters' that the model cannot take are a ``TypeError`` saying so."""
        try:
            return self.model(x)
        except RuntimeError:
            dtype = self.params[0].dtype
            if x.is_floating_point() and x.dtype != dtype:
                raise TypeError(f"batches[{i}] holds inputs of dtype {x.dtype} and the model's parameters are "
                                f"{dtype}: convert one to the other (inputs.to({dtype}) or model.to({x.dtype}))"
                                ) from None
            raise

    @torch.enable_grad()  # also when called under torch.no_grad()
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(v)
        pieces = list(torch.split(v, [p.numel() for p in self.params]))
        vectors = [piece.view_as(p) for piece, p in zip(pieces, self.params)]
        for i, (x, y) in enumerate(self.batches):
            loss = self.loss_fn(self._forward(i, x), y)
            if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
                raise ValueError(f"loss_fn must return the batch's mean loss as one number, got "
                                 f"{records.shown(loss)}")
            if not loss.requires_grad:
                raise ValueError(f"loss_fn returned a loss without a gradient for batches[{i}] (computed under "
                                 "torch.no_grad() or detached?): the Hessian is taken through the graph from the "
                                 "model's parameters to the loss")
            if not torch.isfinite(loss):
                raise ValueError(f"the loss of batches[{i}] is {loss.item()}: the Hessian of a loss that is not finite "
                                 "has no eigenvalues")
            grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True,
                                        materialize_grads=True)
            dot = sum((g * u).sum() for g, u in zip(grads, vectors))
            if isinstance(dot, torch.Tensor) and dot.requires_grad:  # else the loss is linear: no curvature
                products = torch.autograd.grad(dot, self.params, allow_unused=True, materialize_grads=True)
                out += torch.cat([h.reshape(-1) for h in products]) * (x.shape[0] / self.samples)
        return out


def top_eigenvalues(model: nn.Module, loss_fn: Callable[..., torch.Tensor], batches: Iterable[Any],
                    k: int = LANCZOS.k, tol: float = LANCZOS.tol, max_iter: int = LANCZOS.max_iter,
                    seed: int = LANCZOS.seed, progress: bool = False,
                    origins: records.Origins | None = None) -> SharpnessResult:
    """The ``k`` largest (algebraic) eigenvalues of the Hessian of the mean loss over ``batches`` with respect to
    ``model``'s trainable parameters, at its current weights.

    ``loss_fn(model(x), y)`` is a batch's mean loss (as ``F.cross_entropy`` gives it by default), a tensor of one
    element through which autograd reaches the parameters (not detached; gradients are enabled here, also under
    ``torch.no_grad()``); ``batches``, a list of ``(x, y)`` (any iterable: it is read once and held), is a fixed
    sample, and its batches' Hessians are weighted by their sizes, so the Hessian is that of the mean over all its
    examples, whatever the batch size. The model is evaluated in eval mode: BatchNorm uses its running statistics
    (the network as it predicts, not as it trained) and dropout is off. A model wrapped in
    ``DistributedDataParallel`` (or ``torch.compile``) is unwrapped first (:func:`onecycle.distributed.unwrap`):
    each process measures its own batches.

    The Lanczos method with full reorthogonalisation, from a random start drawn with ``seed``: one Hessian-vector
    product over all the batches per iteration (double backward). It stops when each wanted Ritz value ``θ`` has
    a residual ``‖H u − θ u‖ <= tol · |θ|`` (so an eigenvalue of the Hessian lies within ``tol`` of it, relatively;
    a residual at the level of rounding counts too), checked from iteration :data:`MIN_ITERATIONS` on, or after
    ``max_iter`` iterations (``converged`` is then false: always, for a ``max_iter`` below that, unless the parameters
    are fewer). Lanczos finds a repeated eigenvalue once.

    Afterwards the model's parameters, buffers, ``.grad`` and train/eval modes are what they were; no global random
    state is used. Bad arguments are a ``ValueError`` naming the argument (and, for ``k``, ``tol``, ``max_iter`` and
    ``seed``, where its value came from, given ``origins``: ``{"k": "from --k"}``, a setting not in it being a
    default), as is a ``max_iter`` whose Lanczos vectors cannot be allocated, and a loss without a gradient;
    floating-point inputs of another dtype than the parameters' that the model cannot take are a ``TypeError``.
    """
    _check("model", isinstance(model, nn.Module), "a torch.nn.Module", model)
    _check("loss_fn", callable(loss_fn), "a function (output, target) -> loss", loss_fn)
    check_lanczos(k, tol, max_iter, seed, origins)
    _check("progress", isinstance(progress, bool), "True or False", progress)
    model = unwrap(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (none requires grad): its loss has no Hessian")
    if len({(p.dtype, p.device) for p in params}) > 1:
        raise ValueError("model's trainable parameters must share one dtype and device, got "
                         f"{sorted({f'{p.dtype} on {p.device}' for p in params})}")
    size = sum(p.numel() for p in params)
    said = records.naming({"k": k, "max_iter": max_iter}.__getitem__, origins)
    if k > size:
        raise ValueError(f"{said('k')} must be at most the number of trainable parameters ({size})")
    dtype, device = params[0].dtype, params[0].device
    _check("model's parameters", dtype.is_floating_point, "of a floating-point dtype", dtype)
    data = _batches(batches, device)
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        return _lanczos(_Hessian(model, loss_fn, data, params), size, dtype, device, k, tol, max_iter, seed,
                        progress, said)
    finally:
        for module, training in modes.items():
            module.training = training


def _lanczos(hessian: _Hessian, size: int, dtype: torch.dtype, device: torch.device, k: int, tol: float,
             max_iter: int, seed: int, progress: bool, said: Callable[[str], str]) -> SharpnessResult:
    """The Lanczos iteration of :func:`top_eigenvalues` on ``hessian``, an operator on vectors of ``size`` (``said``
    names ``max_iter`` when its vectors cannot be allocated)."""
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    steps = min(max_iter, size)
    try:
        basis = torch.zeros(steps + 1, size, dtype=dtype, device=device)  # the Lanczos vectors, one per row
    except (RuntimeError, MemoryError):  # torch's out-of-memory errors are RuntimeErrors
        need = (steps + 1) * size * dtype.itemsize / 2**30
        raise ValueError(f"{said('max_iter')} needs {need:.3g} GiB for its Lanczos vectors ({steps + 1} vectors "
                         f"of {size} numbers, one a trainable parameter), more than can be allocated: use fewer "
                         "iterations") from None
    alphas: list[float] = []
    betas: list[float] = []  # betas[j] couples vector j to vector j + 1 (0: a fresh start after a breakdown)

    def start(j: int) -> torch.Tensor:
        """A random unit vector orthogonal to the first ``j`` Lanczos vectors."""
        v = torch.randn(size, generator=generator, dtype=torch.float64).to(device=device, dtype=dtype)
        return _orthonormal(v, basis[:j])[0]

    basis[0] = start(0)
    values, residuals, converged = [], [], False
    bar = tqdm(total=steps, desc="Hessian eigenvalues", disable=not progress, leave=False)
    try:
        for j in range(steps):
            w = hessian(basis[j])
            if not bool(torch.isfinite(w).all()):
                raise ValueError("a Hessian-vector product is not finite: the loss or its derivatives overflow at "
                                 "these weights")
            alphas.append(float(w @ basis[j]))
            w, beta = _orthonormal(w, basis[: j + 1])
            tridiagonal = torch.diag(torch.tensor(alphas, dtype=torch.float64))
            if j:
                off = torch.tensor(betas, dtype=torch.float64)
                tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
            ritz, vectors = torch.linalg.eigh(tridiagonal)
            wanted = list(range(j, max(j - k, -1), -1))  # the largest first
            scale = max(abs(float(ritz[0])), abs(float(ritz[-1])))
            values = [float(ritz[i]) for i in wanted]
            residuals = [beta * abs(float(vectors[-1, i])) for i in wanted]
            bar.update(1)
            bar.set_postfix(top=f"{values[0]:.4g}")
            noise = 1e3 * torch.finfo(dtype).eps * scale  # what rounding leaves of a vector of the Krylov space
            breakdown = beta <= noise  # an invariant subspace: its Ritz values are eigenvalues
            converged = len(values) == k and j + 1 >= min(MIN_ITERATIONS, size) and all(
                r <= max(tol * abs(v), noise) for r, v in zip(residuals, values))
            if converged:  # an invariant subspace holding k values converges too: its residuals are rounding
                break
            if breakdown:  # an invariant subspace, too early or too small to answer: go on in its complement
                betas.append(0.0)
                basis[j + 1] = start(j + 1)
            else:
                betas.append(beta)
                basis[j + 1] = w
    finally:
        bar.close()
    return SharpnessResult(values, residuals, len(alphas), converged, hessian.samples)


def _orthonormal(v: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``v`` with its components along the (orthonormal) rows of ``basis`` removed, twice (classical Gram-Schmidt
    twice is enough in floating point), then scaled to unit length; and its norm before scaling."""
    for _ in range(2):
        if len(basis):
            v = v - basis.T @ (basis @ v)
    norm = float(torch.linalg.vector_norm(v))
    return (v / norm if norm > 0 and math.isfinite(norm) else v), norm
