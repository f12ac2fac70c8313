"""The per-step cost of the training loop's reads, and of the range test over bare steps.

``python -m benchmarks.speed.loop_overhead [--device cpu] [--repeats 7] [--models small-cnn,mlp] [--compile]``
trains the demo's small CNN (batch 256) and the MLP (batch 32: tiny steps, where overhead shows most) on random
Fashion-MNIST-shaped images with the run directory's metrics files and the progress bar (to a null stream), and
prints the median time per step of:

* ``before``: the loop as it was, reading the loss and the correct count back at every step (``float``, ``int``),
  the progress bar redrawn and the metrics rows appended at every step;
* ``log_every N``: :func:`onecycle.engine.train` reading every N steps (1, 10, 50);
* ``foreach``, ``fused``: torch's other optimizer implementations (``optimizer_impl``), at ``log_every`` 1;
* with ``--compile``, ``compile``: the model through ``torch.compile`` at ``log_every`` 1 (its compilation, in the
  warm-up, not counted);
* the range test (:func:`onecycle.range_test.range_test`, snapshot and restore included) against its bare steps.

Variants are measured interleaved (each repeat runs each once, in a rotating order: the speed benchmark's
:func:`~benchmarks.speed.stats.interleaved`) so that a busy machine slows them alike; the ratios are of medians.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.speed import stats
from onecycle import rundir
from onecycle.augment import channel_stats
from onecycle.config import from_dict
from onecycle.datasets import ImageData
from onecycle.engine import Totals, TrainState, correct_count, momentum_of, train
from onecycle.experiment import Setup
from onecycle.range_test import range_test
from onecycle.scheduler import PolicyScheduler

CASES = {"small-cnn": (256, 20), "mlp": (32, 200)}
"""The models measured, their batch sizes and the steps of a timing: the demo's CNN and batch, and an MLP of tiny
steps (each timing a few seconds on one CPU thread)."""
LOG_EVERY = (1, 10, 50)


def setup(model: str, batch_size: int, steps: int, device: str, impl: str = "default") -> Setup:
    """The data (``steps`` batches of random 28x28 images, 10 classes) and settings of one case."""
    cfg = from_dict({"dataset": "fashion-mnist", "model": model, "batch_size": batch_size, "augment": "none",
                     "device": device, "optimizer_impl": impl, "epochs": 1})
    generator = torch.Generator().manual_seed(0)
    n = steps * batch_size
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    data = ImageData(images, labels, tuple(str(c) for c in range(10)), "random").to(device)
    mean, std = channel_stats(images)
    return Setup(cfg, torch.device(device), data, data, mean.to(device), std.to(device))


def _state(s: Setup) -> TrainState:
    data = s.batches()
    model = s.model()
    optimizer = s.optimizer(model, 0.01, 5e-4)
    scheduler = PolicyScheduler(optimizer, max_lr=0.01, epochs=1, steps_per_epoch=len(data), **s.cfg.policy_kwargs())
    return TrainState(model, optimizer, scheduler, data, 1)


def loop_before(state: TrainState, loss_fn: Callable[..., torch.Tensor], hooks: list[Any]) -> None:
    """One epoch of the loop as it was before reads in bulk: every step reads its loss and correct count back,
    redraws the progress bar and hands its row to the hooks (the smoothed loss and the stop rule cost the same
    either way, and are left out)."""
    from tqdm.auto import tqdm

    model, optimizer, totals = state.model, state.optimizer, Totals()
    model.train()
    start, bar = time.perf_counter(), tqdm(state.data, leave=False)
    for x, y in bar:
        lr, momentum = float(optimizer.param_groups[0]["lr"]), momentum_of(optimizer)
        out = model(x)
        loss = loss_fn(out, y)
        value = float(loss.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.scheduler.step()
        state.step += 1
        correct = correct_count(out.detach(), y)
        totals.add(value, len(y), None if correct is None else int(correct))
        totals.seconds = time.perf_counter() - start
        bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.3g}", img_s=f"{totals.seen / totals.seconds:.0f}")
        for hook in hooks:
            hook.on_steps(state, [{"step": state.step, "loss": value, "smoothed_loss": value, "lr": lr,
                                   "momentum": momentum}])
    bar.close()


def time_training(s: Setup, variant: str) -> float:
    """Seconds per step of one epoch of ``variant`` (``before``, ``log_every N`` or ``compile``), with the metrics
    files."""
    state = _state(s)
    with tempfile.TemporaryDirectory() as run_dir, contextlib.redirect_stderr(io.StringIO()):
        hooks = [rundir.MetricsHook(Path(run_dir))]
        _sync(s.device)
        start = time.perf_counter()
        if variant == "before":
            loop_before(state, s.loss_fn(), hooks)
        else:
            train(state, loss_fn=s.loss_fn(), hooks=hooks, progress=True, compile=variant == "compile",
                  log_every=1 if variant == "compile" else int(variant.split()[-1]))
        _sync(s.device)
        return (time.perf_counter() - start) / len(state.data)


def time_range_test(s: Setup, bare: bool) -> float:
    """Seconds per step of a range test that does not diverge (lr 1e-6 to 1e-5), its snapshot and restore included,
    or (``bare``) of the same steps alone: set the lr, train on a batch, read the loss."""
    model = s.model()
    optimizer = s.optimizer(model, 1e-6, 5e-4)
    data, loss_fn, steps = s.batches(), s.loss_fn(), len(s.batches())
    _sync(s.device)
    start = time.perf_counter()
    if bare:
        model.train()
        for i, (x, y) in enumerate(data):
            for group in optimizer.param_groups:
                group["lr"] = 1e-6 * 10 ** (i / steps)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            float(loss.detach())
    else:
        range_test(model, optimizer, data, loss_fn, start_lr=1e-6, end_lr=1e-5, num_steps=steps, extend=False)
    _sync(s.device)
    return (time.perf_counter() - start) / steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """The median of ``repeats`` timings of each variant, after one warm-up each, run in the benchmark's interleaved
    order (:func:`benchmarks.speed.stats.interleaved`)."""
    for timing in variants.values():
        timing()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _, name in stats.interleaved(list(variants), repeats):
        times[name].append(variants[name]())
    return {name: stats.median(t) for name, t in times.items()}


def report(title: str, medians: dict[str, float], base: str) -> str:
    rows = [f"{title}", f"  {'variant':<14} {'ms/step':>9} {'ratio':>7}"]
    rows += [f"  {name:<14} {1000 * t:>9.3f} {t / medians[base]:>7.3f}" for name, t in medians.items()]
    return "\n".join(rows)


def measure_case(model: str, batch_size: int, steps: int, device: str, repeats: int, compile: bool = False) -> str:
    """The tables of one case: the training loop's variants, then the range test against its bare steps."""
    impls = ("foreach", "fused")
    cases = {impl: setup(model, batch_size, steps, device, impl) for impl in ("default", *impls)}
    s = cases["default"]
    training = {"before": functools.partial(time_training, s, "before")}
    training.update({f"log_every {n}": functools.partial(time_training, s, f"log_every {n}") for n in LOG_EVERY})
    training.update({impl: functools.partial(time_training, cases[impl], "log_every 1") for impl in impls})
    if compile:
        training["compile"] = functools.partial(time_training, s, "compile")
    ranges = {"bare steps": functools.partial(time_range_test, s, True),
              "range test": functools.partial(time_range_test, s, False)}
    return "\n".join([report("training", measure(training, repeats), "before"),
                      report("range test", measure(ranges, repeats), "bare steps")])


MIN_STEPS = 10
"""The fewest steps of a timing: each phase of the 1cycle schedule it trains needs a few."""


def _steps(text: str) -> int:
    try:
        steps = int(text)
    except ValueError:
        steps = 0
    if steps < MIN_STEPS:
        raise argparse.ArgumentTypeError(f"expected an integer >= {MIN_STEPS}, got {text!r}")
    return steps


def _models(text: str) -> list[str]:
    names = text.split(",")
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown case(s) {', '.join(unknown)}: expected some of {', '.join(CASES)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.loop_overhead",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--device", default="cpu", help="the device to measure on (default: cpu)")
    parser.add_argument("--repeats", type=int, default=7, help="timings of each variant (default: 7)")
    parser.add_argument("--steps", type=_steps, help=f"steps of each timing, at least {MIN_STEPS} (default: each "
                        "case's, CASES)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--compile", action="store_true", help="time the compiled model too (compiling takes minutes)")
    parser.add_argument("--models", default=",".join(CASES), type=_models,
                        help=f"comma-separated cases to measure (default: {','.join(CASES)})")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} on {args.device}, {args.threads} thread(s); medians of {args.repeats} "
          "interleaved timings")
    for model in args.models:
        batch_size, steps = CASES[model]
        steps = args.steps or steps
        print(f"\n{model}, batch {batch_size}, {steps} steps a timing")
        print(measure_case(model, batch_size, steps, args.device, args.repeats, args.compile), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
