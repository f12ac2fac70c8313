"""A machine without Fashion-MNIST, for the tests of the demo's fall back to scikit-learn's digits."""

from onecycle import experiment
from onecycle.datasets import DatasetNotFound


def without_fashion_mnist(monkeypatch, message="Fashion-MNIST not found"):
    """Make every load of Fashion-MNIST raise :class:`DatasetNotFound` with ``message``; other datasets load."""
    real = experiment.load_dataset

    def offline(name, *args, **kwargs):
        if name == "fashion-mnist":
            raise DatasetNotFound(message)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(experiment, "load_dataset", offline)
