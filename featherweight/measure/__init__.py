"""Stage 6: parameters, bytes and gzip bytes of a student, task metrics, and evaluation of saved models."""
