"""Plughost benchmarks: ``nox -s bench`` (or ``python -m bench``) from the repository root.

Everything is measured against a bare FastMCP server started in the same run on the same
machine, so the figures that matter are ratios. Not part of the test run.
"""
