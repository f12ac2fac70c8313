"""Time to accuracy on Fashion-MNIST on two CPU cores: how long onecycle's 1cycle policy takes to reach 93% test
accuracy on the full dataset, and the best it reaches within 10 epochs.

The time a 1cycle run takes to a target depends on its budget, because the schedule spans the whole run; so the
measure is the shortest budget whose run ends at the target, and its wall time. Of the budgets (3, 4, 5, 6, 8, 10
epochs), every seed (0, 1, 2) is trained at a first one, then at longer ones until every seed reaches 93% and at
shorter ones until none does; and at 10 epochs always. Every run is ``onecycle train``'s own
(:func:`onecycle.experiment.train_run`, hooks and run-directory files included), at the max_lr of ``onecycle
find-lr`` (the range test, measured here too) unless the settings give one. The recipe (:mod:`.settings`) is
published as a preset (``onecycle reproduce fmnist-93``).

Run ``python -m benchmarks.time_to_accuracy --jobs 2`` from the repository root: the recipe's runs have one thread
each, so two at a time keep both cores of a two-core machine busy; each run records the machine's load, so a report
measured beside other work says so. Finished runs are cached in
``benchmarks/results/time-to-accuracy-runs.json``, keyed by every setting they were measured under, with a journal
beside it while it runs, so a killed or rerun benchmark trains only what is new. It writes its section of
``docs/BENCHMARKS.md`` (between two marker lines; the rest of the file is left alone) and the results in
``benchmarks/results/time-to-accuracy.json``. ``--quick`` runs it all in seconds on tiny subsets of scikit-learn's
digits with one seed, into ``benchmarks/results/time-to-accuracy-quick/``.
"""
