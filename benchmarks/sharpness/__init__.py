"""Sharpness: do high learning rates find flatter minima? The top eigenvalues of the Hessian of the training loss at
the trained weights (``onecycle sharpness``) after 1cycle at the range test's max_lr (high), after 1cycle at a
moderate max_lr (that divided by 10) and after the step schedule at the moderate max_lr, each for the same epochs,
over three seeds, on Fashion-MNIST with the small CNN.

Every run is ``onecycle train``'s own (:func:`onecycle.experiment.train_run`) and every measurement of sharpness
``onecycle sharpness``'s (:func:`onecycle.run_sharpness.measure_run`), on the same fixed, seeded 2,048 training images
for every run (no run trains on a subset, so the images drawn are the same). The max_lr is ``onecycle find-lr``'s
recommendation (the range test, measured here too, at seed 0).

Run ``python -m benchmarks.sharpness --jobs 2`` from the repository root (one thread a run, so two at a time keep
both cores of a two-core machine busy). Finished runs are cached in ``benchmarks/results/sharpness-runs.json``,
keyed by every setting they were measured under, with a journal beside it while it runs, so a killed or rerun
benchmark measures only what is new. It writes its section of ``docs/RESULTS.md`` (between two marker lines; the rest
of the file is left alone) and the results in ``benchmarks/results/sharpness.json``. ``--quick`` runs it all in
seconds on scikit-learn's digits with one seed, into ``benchmarks/results/sharpness-quick/``.
"""
