"""The top Hessian eigenvalues (onecycle.sharpness): against quadratics of known spectra (exact cases and random
spectra) and against the dense Hessian of a small network, the model left as it was, and bad arguments."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from onecycle.sharpness import LANCZOS, SharpnessResult, top_eigenvalues


@pytest.fixture(autouse=True)
def one_thread():
    """Small products, fastest on one thread (on a busy machine two contend): put back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Quadratic(nn.Module):
    """``0.5 w^T A w`` in its parameter ``w``: its Hessian is ``A`` wherever ``w`` is."""

    def __init__(self, a):
        super().__init__()
        self.register_buffer("a", a)
        self.w = nn.Parameter(torch.randn(len(a), dtype=a.dtype, generator=torch.Generator().manual_seed(1)))

    def forward(self, x):
        return 0.5 * self.w @ self.a @ self.w


def with_spectrum(eigenvalues, seed=0):
    """``Q diag(eigenvalues) Q^T`` for a random orthogonal ``Q`` (float64)."""
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(len(lam), len(lam), dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(seed)))
    return q @ torch.diag(lam) @ q.T


def the_output(out, y):
    return out


ONE_BATCH = [(torch.zeros(1), torch.zeros(1))]  # the quadratic ignores its input


def relative_errors(found, expected):
    return [abs(f - e) / abs(e) for f, e in zip(found, expected)]


@pytest.mark.parametrize("k", [1, 3])
def test_a_quadratic_of_known_eigenvalues(k):
    lam = torch.cat([torch.linspace(-3.0, 2.0, 57, dtype=torch.float64), torch.tensor([2.5, 4.0, 7.0])])
    result = top_eigenvalues(Quadratic(with_spectrum(lam)), the_output, ONE_BATCH, k=k)
    expected = sorted(lam.tolist(), reverse=True)[:k]
    assert len(result.eigenvalues) == k and result.converged and result.samples == 1
    assert max(relative_errors(result.eigenvalues, expected)) < 1e-3
    assert result.top == result.eigenvalues[0] and result.iterations <= LANCZOS.max_iter
    assert all(r <= LANCZOS.tol * abs(v) for r, v in zip(result.residuals, result.eigenvalues))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=60, unique=True), st.floats(1e-3, 1e3),
       st.integers(1, 3), st.integers(0, 2**16))
def test_random_spectra_top_eigenvalues_within_the_tolerance(values, scale, k, seed):
    lam = sorted({round(v, 2) * scale for v in values}, reverse=True)  # at least 0.01 apart, relative to the scale
    k = min(k, len(lam))
    result = top_eigenvalues(Quadratic(with_spectrum(lam, seed)), the_output, ONE_BATCH, k=k, seed=seed)
    assert result.converged and len(result.eigenvalues) == k
    for found, expected in zip(result.eigenvalues, lam):
        assert abs(found - expected) <= 1e-3 * abs(expected) + 1e-9 * scale


def mlp_problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    x, y = torch.randn(40, 5, dtype=torch.float64), torch.randint(0, 3, (40,))
    return model, x, y


def dense_hessian(model, x, y):
    """The Hessian of the mean cross-entropy over all of ``x`` in the flattened parameters, by torch."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(v):
        pieces = torch.split(v, [s.numel() for s in shapes])
        return F.cross_entropy(functional_call(model, {n: p.view(s) for n, p, s in zip(names, pieces, shapes)}, (x,)),
                               y)

    return torch.autograd.functional.hessian(loss, flat)


def test_a_small_network_against_its_dense_hessian_over_batches_of_other_sizes():
    model, x, y = mlp_problem()
    expected = torch.linalg.eigvalsh(dense_hessian(model, x, y)).flip(0)[:3].tolist()
    batches = [(x[:16], y[:16]), (x[16:19], y[16:19]), (x[19:], y[19:])]  # weighted by size: the mean over all 40
    result = top_eigenvalues(model, F.cross_entropy, batches, k=3)
    assert result.converged and result.samples == 40
    assert max(relative_errors(result.eigenvalues, expected)) < 1e-3
    one = top_eigenvalues(model, F.cross_entropy, [(x, y)], k=3, tol=1e-8)
    assert max(relative_errors(one.eigenvalues, expected)) < 1e-8


def test_the_model_is_left_exactly_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3))
    x, y = torch.randn(12, 1, 8, 8), torch.randint(0, 3, (12,))
    F.cross_entropy(model(x), y).backward()  # running statistics moved, gradients held
    model[1].eval()  # modes mixed: the network trains, its BatchNorm is frozen
    model[0].bias.grad = None
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()}
    modes = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    result = top_eigenvalues(model, F.cross_entropy, [(x[:5], y[:5]), (x[5:], y[5:])], k=2)
    assert result.converged and len(result.eigenvalues) == 2
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # weights and BatchNorm buffers
    for name, p in model.named_parameters():
        assert (p.grad is None) if grads[name] is None else torch.equal(p.grad, grads[name]), name
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.get_rng_state(), rng)


def test_eval_mode_the_same_eigenvalues_whatever_the_batches_and_a_seed_gives_the_same_result():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)).double()
    model(torch.randn(64, 6, dtype=torch.float64))  # running statistics of their own
    x, y = torch.randn(30, 6, dtype=torch.float64), torch.randint(0, 4, (30,))
    whole = top_eigenvalues(model, F.cross_entropy, [(x, y)], k=2, tol=1e-9)
    split = top_eigenvalues(model, F.cross_entropy, [(x[i:i + 7], y[i:i + 7]) for i in range(0, 30, 7)], k=2, tol=1e-9)
    assert relative_errors(split.eigenvalues, whole.eigenvalues) < [1e-8, 1e-8]  # BatchNorm in eval: no batch effects
    again = top_eigenvalues(model, F.cross_entropy, [(x, y)], k=2, tol=1e-9)
    assert again == whole


def test_a_model_wrapped_in_distributed_data_parallel_is_unwrapped(tmp_path):
    import torch.distributed as dist

    model, x, y = mlp_problem()
    plain = top_eigenvalues(model, F.cross_entropy, [(x, y)], k=2)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        wrapped = nn.parallel.DistributedDataParallel(model)
        assert top_eigenvalues(wrapped, F.cross_entropy, [(x, y)], k=2) == plain
    finally:
        dist.destroy_process_group()


def test_a_loss_without_curvature_has_eigenvalue_zero_and_the_whole_space_ends_the_iteration():
    linear = nn.Linear(3, 1, bias=False).double()
    result = top_eigenvalues(linear, lambda out, y: out.sum(), [(torch.ones(2, 3, dtype=torch.float64), None)])
    assert result.eigenvalues == [0.0] and result.converged
    small = top_eigenvalues(Quadratic(with_spectrum([3.0, 1.0, 2.0])), the_output, ONE_BATCH, k=3)
    assert small.iterations == 3 and small.converged
    assert max(relative_errors(small.eigenvalues, [3.0, 2.0, 1.0])) < 1e-12


def test_not_converged_within_max_iter_says_so():
    lam = torch.linspace(1.0, 2.0, 200, dtype=torch.float64)  # a dense spectrum: slow to resolve
    result = top_eigenvalues(Quadratic(with_spectrum(lam)), the_output, ONE_BATCH, k=3, tol=1e-9, max_iter=5)
    assert not result.converged and result.iterations == 5
    assert "NOT converged" in str(result)


def test_the_result_round_trips_and_a_damaged_one_names_the_key():
    result = SharpnessResult([2.0, 1.0], [1e-4, 1e-3], 12, True, 64)
    assert SharpnessResult.from_dict(result.to_dict()) == result
    for change, message in [({"eigenvalues": [1.0, 2.0]}, "eigenvalues must be in descending order"),
                            ({"residuals": [1e-4]}, "must be non-empty and of one length"),
                            ({"iterations": 0}, "iterations must be an integer >= 1"),
                            ({"converged": "yes"}, "converged must be true or false"),
                            ({"eigenvalues": [float("nan"), 1.0]}, r"eigenvalues\[0\] must be a finite number")]:
        with pytest.raises(ValueError, match=message):
            SharpnessResult.from_dict({**result.to_dict(), **change}, "")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "k must be an integer >= 1, got 0"),
    ({"k": True}, "k must be an integer >= 1, got True"),
    ({"tol": 0.0}, r"tol must be a number in \(0, 1\), got 0.0"),
    ({"tol": 1.5}, r"tol must be a number in \(0, 1\), got 1.5"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1, got 0"),
    ({"max_iter": 2, "k": 3}, "max_iter 2 must be at least k 3: each Lanczos iteration"),
    ({"seed": 2**64}, "seed must be an integer from -2\\*\\*63 to 2\\*\\*64 - 1, got 18446744073709551616"),
    ({"seed": 1.5}, "seed must be an integer from"),
    ({"progress": 1}, "progress must be True or False, got 1"),
    ({"model": "net"}, "model must be a torch.nn.Module, got 'net'"),
    ({"loss_fn": None}, "loss_fn must be a function"),
    ({"batches": []}, "batches must hold at least one batch, got none"),
    ({"batches": [torch.zeros(2)]}, r"batches\[0\] must be a pair \(inputs, targets\)"),
    ({"batches": 3}, "batches must be an iterable of"),
    ({"k": 30}, r"k 30 must be at most the number of trainable parameters \(24\)"),
    ({"k": 30, "max_iter": 40, "origins": {"k": "from --k"}},
     r"k 30 \(from --k\) must be at most the number of trainable parameters \(24\)"),
    ({"k": 0, "origins": {"k": "from --k"}}, r"k must be an integer >= 1, got 0 \(from --k\)"),
    ({"max_iter": 2, "k": 3, "origins": {"k": "from --k"}},
     r"max_iter 2 \(default\) must be at least k 3 \(from --k\)"),
    ({"loss_fn": lambda out, y: F.cross_entropy(out, y, reduction="none")},
     "loss_fn must return the batch's mean loss as one number"),
    ({"loss_fn": lambda out, y: out.sum() * float("nan")}, r"the loss of batches\[0\] is nan"),
])
def test_bad_arguments_are_one_clear_error(kwargs, message):
    model = nn.Linear(5, 4)  # 24 parameters
    arguments = {"model": model, "loss_fn": F.cross_entropy, "batches": [(torch.randn(3, 5), torch.tensor([0, 1, 2]))],
                 **kwargs}
    with pytest.raises(ValueError, match=message):
        top_eigenvalues(**arguments)


def _no_grad_loss(out, y):
    with torch.no_grad():
        return F.cross_entropy(out, y)


@pytest.mark.parametrize("loss_fn", [lambda out, y: F.cross_entropy(out, y).detach(), _no_grad_loss,
                                     lambda out, y: torch.tensor(1.0)], ids=["detached", "no_grad", "constant"])
def test_a_loss_without_a_gradient_is_one_clear_error(loss_fn):
    batches = [(torch.randn(3, 5), torch.tensor([0, 1, 2]))]
    with pytest.raises(ValueError, match=r"^loss_fn returned a loss without a gradient for batches\[0\] \(computed "
                                         r"under torch.no_grad\(\) or detached\?\)"):
        top_eigenvalues(nn.Linear(5, 4), loss_fn, batches)


def test_inputs_of_another_dtype_than_the_model_are_one_clear_error():
    batches = [(torch.randn(3, 5), torch.tensor([0, 1, 2])), (torch.randn(3, 5, dtype=torch.float64),
                                                              torch.tensor([0, 1, 2]))]
    with pytest.raises(TypeError, match=r"^batches\[1\] holds inputs of dtype torch.float64 and the model's "
                                        r"parameters are torch.float32: convert one to the other"):
        top_eigenvalues(nn.Linear(5, 4), F.cross_entropy, batches)
    lam = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)  # a model that does not use its inputs takes any
    assert top_eigenvalues(Quadratic(with_spectrum(lam)), the_output, ONE_BATCH).eigenvalues[0] == pytest.approx(3.0)


def test_called_under_no_grad_it_measures_all_the_same():
    torch.manual_seed(0)
    model, batches = nn.Linear(5, 4), [(torch.randn(8, 5), torch.randint(0, 4, (8,)))]
    expected = top_eigenvalues(model, F.cross_entropy, batches, k=2)
    with torch.no_grad():
        assert top_eigenvalues(model, F.cross_entropy, batches, k=2) == expected


def test_a_model_without_trainable_parameters_is_refused():
    model = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="model has no trainable parameters"):
        top_eigenvalues(model, F.cross_entropy, [(torch.randn(2, 2), torch.tensor([0, 1]))])
