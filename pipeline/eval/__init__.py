"""Evaluation: score a run's records against ground truth."""
