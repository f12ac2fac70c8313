"""What the benchmarks share: the run cache and its journal (:mod:`.run_cache`), running tasks in worker
processes (:mod:`.runner`), one training run under a :class:`~onecycle.config.RunConfig` (:mod:`.training`),
report templates (:mod:`.template`) and where results go (:mod:`.paths`)."""
