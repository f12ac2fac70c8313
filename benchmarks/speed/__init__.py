"""How fast ``onecycle`` trains and runs its range test, side by side with a bare PyTorch loop and the tools people
use instead, reported as ratios.

1. ``onecycle train`` (:func:`onecycle.experiment.train_run`: hooks, metrics files, checkpoints) against a bare
   hand-written loop on the same network, batch, threads, images and augmentation: images/s, target ≥ 0.97x; and
   each option of ``onecycle train`` in :data:`~benchmarks.speed.settings.OPTIONS` that the settings have.
2. The 100-step range test (:func:`onecycle.range_test.range_test`, snapshot and restore included) against 100
   bare training steps: time per step, target ≤ 1.10x.
3. Peers on the same network, images and budget: pytorch-lr-finder's ``range_test`` and fastai's ``lr_find``
   against the range test; a 1cycle run against fastai's ``fit_one_cycle`` and against "the loop most users write"
   (a per-sample ``DataLoader`` and torch's ``OneCycleLR``): target ≤ 0.8x their time, accuracy beside. The peers
   run in their own environment (:mod:`.peer_env`), never a dependency of the package.
4. Peak memory beside each figure.

Every figure is the median of interleaved repeats, each measurement in a fresh process (:mod:`.worker`); a ratio is
the median of the per-repeat ratios. Run ``python -m benchmarks.speed`` from the repository root (its section says
how long the committed run took; the peers' environment is built first when missing, in about 6 minutes); it
writes the speed section of ``docs/BENCHMARKS.md`` (between two marker lines) and the raw results in
``benchmarks/results/speed.json``. ``--quick`` runs it all in seconds on a tiny digits subset, with one repeat, into
``benchmarks/results/speed-quick.*``. ``benchmarks/gpu_check.sh`` measures the GPU side (:mod:`.gpu_check`).
"""
