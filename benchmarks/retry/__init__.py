"""Retry: what ``on_diverge = "retry"`` (divergence-aware 1cycle, :mod:`onecycle.retry`) does to runs at learning
rates too high for them. The range test's recommended max_lr first, then 1cycle at multiples of it, each with
``on_diverge`` stop and with retry, over three seeds, on scikit-learn's 8x8 digits (always available) with the MLP:
the final test accuracy, the runs that stopped or collapsed, the retries made and the steps they cost.

Every run is ``onecycle train``'s own (:func:`onecycle.experiment.train_run`) and the recommendation ``onecycle
find-lr``'s (the range test, measured here too, at seed 0).

Run ``python -m benchmarks.retry --jobs 2`` from the repository root (one thread a run, so two at a time keep both
cores of a two-core machine busy). Finished runs are cached in ``benchmarks/results/retry-runs.json``, keyed by every
setting they were measured under, with a journal beside it while it runs, so a killed or rerun benchmark measures only
what is new. It writes its section of ``docs/RESULTS.md`` (between two marker lines; the rest of the file is left
alone) and the results in ``benchmarks/results/retry.json``. ``--quick`` runs it all in seconds on a subset of the
digits with one seed and two multiples, into ``benchmarks/results/retry-quick/``.
"""
