"""Embeddings for tiny students (hash, character, BPE)."""
