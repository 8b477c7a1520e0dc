"""Student models (BiLSTM, Elman RNN, FFN) that sit on a given embedding; build them with `build_student`.

The configs and presets need no torch; the torch modules (build_student, StudentModel, ...) are imported on
first use, so reading a student's settings (student.json) stays light.
"""
from __future__ import annotations

from importlib import import_module

from .config import ARCHS, DEFAULT_STUDENT, POOLINGS, STUDENT_PRESETS, StudentConfig, student_preset
from .training_presets import TRAINING_PRESETS, training_preset

_TORCH_NAMES = {  # name -> the module that defines it
    "BagOfEmbeddings": "ffn",
    "Classifier": "classifier",
    "RecurrentEncoder": "recurrent",
    "StudentModel": "model",
    "build_student": "build",
    "pair_features": "classifier",
    "parameter_groups": "build",
}

__all__ = [
    "ARCHS",
    "DEFAULT_STUDENT",
    "POOLINGS",
    "STUDENT_PRESETS",
    "TRAINING_PRESETS",
    "StudentConfig",
    "StudentModel",
    "build_student",
    "pair_features",
    "parameter_groups",
    "student_preset",
    "training_preset",
]


def __getattr__(name):  # PEP 562: keep `import featherweight.students` free of torch
    if name in _TORCH_NAMES:
        return getattr(import_module(f".{_TORCH_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
