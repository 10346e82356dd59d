"""Benchmarks shared by the ``faceid bench`` command and the pytest-benchmark suite."""
