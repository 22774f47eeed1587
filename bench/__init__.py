"""Benchmarks: speed, memory and quality figures, printed beside a reference. Not tests."""
