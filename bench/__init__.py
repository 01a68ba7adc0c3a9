"""Benchmark harness: ``python -m bench [--sizes 1000,10000,50000] [--quick] [--out docs/benchmarks.md]``.

See docs/benchmarks.md. The orchestrator (:mod:`bench.run`) starts the simulator, the HTTP server and
every measuring step (:mod:`bench.worker`) as separate processes on 127.0.0.1 and cleans them up on any
exit."""
