"""Our quantized student modules and the int8 backend behind them (see backend.py for the only torch.ao use)."""
from .backend import KNOWN_WARNINGS, quiet
from .elman import ElmanEncoder
from .modules import (DynamicInt8Linear, DynamicInt8LSTM, HalfEmbedding, Int8RowEmbedding, StaticInt8Classifier,
                      StaticInt8Linear, WeightInt8Linear, WeightInt8LSTM)

__all__ = ["DynamicInt8LSTM", "DynamicInt8Linear", "ElmanEncoder", "HalfEmbedding", "Int8RowEmbedding",
           "KNOWN_WARNINGS", "StaticInt8Classifier", "StaticInt8Linear", "WeightInt8LSTM", "WeightInt8Linear", "quiet"]
