"""Featherweight: distil fine-tuned transformers into text classifiers small enough for microcontrollers.

    import featherweight
    summary = featherweight.compress(featherweight.CompressConfig(task="sst-2", student_arch="bilstm",
                                                                  embedding_type="bpe", embedding_dim=25))
    student = featherweight.load("artifacts/students/sst-2-bilstm-bpe25-...")
    featherweight.predict(student, ["a charming, funny film"])[0].label      # "positive"

The names below load on first use (PEP 562), so `import featherweight` stays light and the torch-free
predictor (featherweight.deploy.predict) never imports torch.
"""
from importlib import import_module

_PUBLIC = {  # name -> module that defines it
    "load": "featherweight.models",
    "predict": "featherweight.models",
    "compress": "featherweight.experiments.pipeline",
    "CompressConfig": "featherweight.experiments.pipeline",
    "distill": "featherweight.compression.distill",
    "DistillConfig": "featherweight.compression.distill",
    "prune": "featherweight.compression.prune",
    "PruneConfig": "featherweight.compression.prune",
    "quantize": "featherweight.compression.quantize",
    "QuantizeConfig": "featherweight.compression.quantize",
    "export": "featherweight.deploy.api",
    "ExportConfig": "featherweight.deploy.api",
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
