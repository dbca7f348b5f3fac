"""Benchmarks: each module writes JSON and a PNG under bench/results/, paired against a
baseline measured in the same run."""
