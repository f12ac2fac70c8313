"""What the benchmarks share: the run cache, its journal and its lock (:mod:`.run_cache`), running tasks in worker
processes (:mod:`.runner`), one training run under a :class:`~onecycle.config.RunConfig` and the settings that
name a measurement (:mod:`.training`), the mean ± std over seeds (:mod:`.stats`),
report templates (:mod:`.template`), the report as a section of a Markdown file between two marker lines
(:mod:`.section`), results files read back value by value (:mod:`.schema`), where results go (:mod:`.paths`) and
what their command lines share: the report's path, reading their files, one-line errors, the smoke run's warning
(:mod:`.cli`)."""
