"""CPU-scale twins of the 1cycle article's experiments, on Fashion-MNIST: what it claims, measured again with tuned
baselines and several seeds, reported even where 1cycle loses.

1. **Epochs to accuracy.** 1cycle, step, linear-to-zero and cosine at budgets of 1, 2, 4 and 8 epochs, each at its
   best lr of one grid (1cycle also at the range test's recommendation, untuned): accuracy against budget, and the
   epochs each needs to reach fixed targets.
2. **Cyclical vs constant momentum** at equal budget, over the same lrs.
3. **Super-convergence.** max_lr at the range test's smoothed minimum vs a moderate one (minimum / 10): train and
   test loss per epoch, their gap, the final accuracy.
4. **Short cycle, long annihilation** (``cycle_epochs``) vs the standard split: does the gap grow?
5. **Weight decay.** The sweep's pick (:func:`onecycle.sweep.sweep`) vs every other swept value, each trained at
   its own recommended max_lr: is the pick the best, or within noise of it?

Every number is the mean ± sample std over 3 seeds (the data subsets are fixed). Run ``python -m
benchmarks.experiments --jobs 2`` from the repository root (777 epochs from an empty cache: about 50 minutes on two
unloaded cores); finished runs are cached in ``benchmarks/results/experiments-runs.json``, keyed by every setting they
were measured under, so a rerun trains only what is new. It writes the twins' section of ``docs/RESULTS.md`` (between
two marker lines; the rest of the file is left alone), its figures under ``docs/images/`` and the raw results in
``benchmarks/results/experiments.json``. ``--quick`` runs it all in seconds on tiny subsets of scikit-learn's digits
with one seed, into ``benchmarks/results/experiments-quick/``.
"""
