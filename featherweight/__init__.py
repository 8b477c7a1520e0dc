"""Featherweight: distil fine-tuned transformers into text classifiers small enough for microcontrollers."""
