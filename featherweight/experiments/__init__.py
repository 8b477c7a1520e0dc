"""Runs of the whole pipeline: one compress job, grids of them (sweep), and the results table they feed."""
