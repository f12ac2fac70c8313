"""On real Fashion-MNIST (a CI-sized subset): 1cycle at the recommended max_lr trains, at the lr where the
range test stopped it does not."""

import math

import pytest

from onecycle import OneCycleScheduler, experiment, range_test
from onecycle.config import from_dict
from onecycle.datasets import DatasetNotFound
from onecycle.engine import TrainState, evaluate, train


@pytest.fixture(scope="module")
def setup():
    cfg = from_dict(dict(dataset="fashion-mnist", download=False, train_subset=2048, test_subset=1024,
                         batch_size=64, augment="none", progress=False))
    try:
        return experiment.prepare(cfg)
    except DatasetNotFound as err:
        pytest.skip(f"Fashion-MNIST is not installed: {err}")


def _one_cycle_epoch(setup, max_lr):
    model = setup.model()
    optimizer = setup.optimizer(model, max_lr, 5e-4)
    data = setup.batches()
    scheduler = OneCycleScheduler(optimizer, max_lr=max_lr, epochs=1, steps_per_epoch=len(data))
    state = train(TrainState(model, optimizer, scheduler, data, 1), progress=False)
    return state, model


def test_recommended_lr_trains_and_stop_lr_does_not(setup):
    model = setup.model()
    result = range_test(model, setup.optimizer(model, 1e-5, 5e-4), setup.batches(), setup.loss_fn(),
                        start_lr=1e-5, end_lr=10.0, num_steps=60)
    assert result.diverged and result.max_lr is not None
    stop_lr = result.curves[0].stop_lr
    assert result.max_lr < stop_lr / 10
    val = setup.batches(train=False)
    initial = evaluate(setup.model(), val)["loss"]

    state, trained = _one_cycle_epoch(setup, result.max_lr)
    assert state.stopped is None
    good = evaluate(trained, val)
    assert good["loss"] < 0.75 * initial and good["accuracy"] > 0.4

    state, trained = _one_cycle_epoch(setup, stop_lr)
    bad = math.inf if state.stopped else evaluate(trained, val)["loss"]
    assert bad > initial
