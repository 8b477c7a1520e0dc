"""Our quantized student modules and the int8 backend behind them (see backend.py for the only torch.ao use).

packing.py (the bit layout of sub-8-bit codes) needs only numpy, so the names below load on first use (PEP 562)
and `featherweight.compression.quantized.packing` stays importable without torch.
"""
from importlib import import_module

_NAMES = {"KNOWN_WARNINGS": "backend", "quiet": "backend", "ElmanEncoder": "elman",
          **{name: "modules" for name in ("DynamicInt8LSTM", "DynamicInt8Linear", "HalfEmbedding", "Int8RowEmbedding",
                                          "StaticInt8Classifier", "StaticInt8Linear", "WeightInt8LSTM",
                                          "WeightInt8Linear")}}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
