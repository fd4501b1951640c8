"""The benchmark suite of issue 5: `python -m bench` (see docs/performance.md)."""
