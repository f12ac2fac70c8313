"""Recommendation quality: how much test accuracy each learning-rate rule leaves on the table.

For every case (dataset, network, optimizer, batch size, training budget) the ground truth is the best
``max_lr`` of a log-spaced grid of 1cycle runs (mean test accuracy over seeds). One range test under the same
conditions then gives every rule's answer: the library's recommendation, its individual suggestion rules and
the published rules of fastai, pytorch-lr-finder and PyTorch Lightning (re-implemented in
:mod:`benchmarks.recommendation.published_rules` from their descriptions). Each answer is trained with 1cycle over
the same seeds and scored by its regret::

    regret = mean accuracy at the rule's lr - mean accuracy at the best grid lr     (accuracy points)

0 is as good as the grid's best; negative is accuracy lost; slightly positive is possible (a rule landing
between grid points, or seed noise). A rule whose lr makes training diverge keeps the accuracy it reaches.

The weight-decay part compares the pick of :func:`onecycle.sweep.sweep` with the best of a trained
weight-decay grid at the case's best lr.

Regrets are also read off a unimodal fit of accuracy against lr (see
:func:`benchmarks.recommendation.scoring.add_denoised`), which shares the seeds' noise between neighbouring lrs.

Run ``python -m benchmarks.recommendation --jobs 2`` from the repository root (hours from an empty run cache, two
cases at a time: docs/BENCHMARKS.md's wall-time section gives the estimate); ``--quick`` is a smoke run of a few
seconds. Finished runs are cached in ``benchmarks/results/recommendation-runs.json``, so a rerun (another rule,
another seed) trains only what is new. Results are written after every case: raw JSON under
``benchmarks/results/`` and the Markdown report, a section between two marker lines of ``docs/BENCHMARKS.md``
(or of ``--out``; the rest of the file is left as it is).
"""
