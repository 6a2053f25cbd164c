"""The SCIM benchmark: ``python -m bench.run --quick`` (see docs/PERFORMANCE.md)."""
