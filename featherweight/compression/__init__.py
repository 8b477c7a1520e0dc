"""Stages 4-5: distil a student from soft targets, then prune and quantize it (QAT included)."""
