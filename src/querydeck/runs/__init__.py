"""Runs: executing guarded statements, storing their rows, reading them back."""
