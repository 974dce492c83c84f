"""Benchmarks behind `docextract bench`, and the synthetic document generator."""
