"""Quantize a trained student to int8 for CPU inference, and rebuild a quantized skeleton to load one.

Thesis recipe (Section 6): embeddings 8-bit per row (weight-only), LSTM dynamic int8, Elman RNN through
our step-by-step ElmanEncoder with int8 Linear layers, classifier dynamic or static int8 (static scales
calibrated on the held-out train slice, never dev), hash importance weights in float16.
Our default differs in keeping float activations everywhere (int8 weights, float state and classifier
input). Torch's dynamic int8 kernels quantize their input with one scale taken over the whole batch,
so a sentence's logits would depend on its batch mates (and, in the encoders, drift over ~100
character steps); float activations are batch-independent and are what the C and ONNX int8 exports
compute. `lstm_activations="dynamic-int8"`, `elman_activations="dynamic-int8"` and
`classifier_quantization="dynamic-per-batch"` give the thesis's batch-dependent dynamic int8 layers.
The quantized layers live in featherweight.quantized; only its backend module touches torch.ao.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Iterable, Literal, NamedTuple

import torch
from torch import nn

from featherweight.config_io import from_known_fields
from featherweight.quantized import (DynamicInt8Linear, DynamicInt8LSTM, ElmanEncoder, HalfEmbedding,
                                     Int8RowEmbedding, StaticInt8Classifier, WeightInt8Linear, WeightInt8LSTM, quiet)

CALIBRATION_HELP = ("Static classifier quantization needs calibration batches from the held-out train slice "
                    "(never dev): pass calibration=calibration_batches(encode_data(tokenizer, "
                    "load_splits(data)['heldout'])), or use classifier_quantization='weight-only'.")
CLASSIFIER_SCHEMES = ("weight-only", "dynamic-per-batch", "static", "none")


@dataclass
class QuantizeConfig:
    """What to quantize and how: the thesis recipe with float activations (batch-independent) by default."""

    embedding_quantization: Literal["int8-row", "none"] = "int8-row"  # int8-row: weight-only, one scale per row
    encoder_quantization: Literal["dynamic-int8", "none"] = "dynamic-int8"  # LSTM / Elman RNN weights
    lstm_activations: Literal["float", "dynamic-int8"] = "float"  # LSTM state: float, or dynamic-int8 as in the thesis
    elman_activations: Literal["float", "dynamic-int8"] = "float"  # Elman RNN state: float, or dynamic-int8 (thesis)
    # classifier int8 scheme. weight-only: int8 weights, float input, a row's logits never depend on its batch
    # (what the C and ONNX int8 exports compute); dynamic-per-batch (formerly "dynamic"): input quantized on the fly
    # with one scale per batch, so logits depend on the batch mates; static: fixed scales calibrated on held-out rows
    classifier_quantization: Literal["weight-only", "dynamic-per-batch", "static", "none", "dynamic"] = "weight-only"
    hash_importance_dtype: Literal["float16", "float32"] = "float16"  # hash importance scalars (thesis: float16)
    calibration_rows: int = 4096  # the pipeline calibrates static scales on the first rows of the held-out slice

    def __post_init__(self):
        if self.classifier_quantization == "dynamic":  # its name until issue 17: earlier artifacts and configs
            self.classifier_quantization = "dynamic-per-batch"
        choices = {"embedding_quantization": ("int8-row", "none"), "encoder_quantization": ("dynamic-int8", "none"),
                   "lstm_activations": ("float", "dynamic-int8"), "elman_activations": ("float", "dynamic-int8"),
                   "classifier_quantization": CLASSIFIER_SCHEMES,
                   "hash_importance_dtype": ("float16", "float32")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}.")
        if isinstance(self.calibration_rows, bool) or not isinstance(self.calibration_rows, int) \
                or self.calibration_rows < 1:
            raise ValueError(f"calibration_rows must be a positive int, got {self.calibration_rows!r}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> QuantizeConfig:
        return from_known_fields(cls, data, " Was this artifact saved by a newer Featherweight?")


def calibration_batches(encoded, batch_size: int = 256, max_rows: int | None = None) -> list[tuple]:
    """Model inputs for the first `max_rows` rows of an EncodedData (the held-out slice), length-bucketed."""
    import numpy as np

    from featherweight.batching import bucketed_batches

    rows = len(encoded) if max_rows is None else min(len(encoded), max_rows)
    lengths = np.asarray(encoded.lengths)[:rows]
    return [encoded.inputs(index) for index in bucketed_batches(lengths, batch_size, shuffle=False)]


def quantize(model: nn.Module, config: QuantizeConfig | None = None,
             calibration: Iterable[tuple] | None = None) -> nn.Module:
    """A quantized copy of a trained float student (the input model is left as it is).

    `calibration`: model input tuples, (ids,) or (ids, ids_b), from the held-out train slice (all of them are
    used; see `calibration_batches`); needed only for classifier_quantization="static". Live pruning masks are
    folded into the copy.
    """
    config = config or QuantizeConfig()
    if config.classifier_quantization == "static" and calibration is None:
        raise ValueError(CALIBRATION_HELP)
    _check_float_student(model)
    return _convert(model, config, calibration, skeleton=False)


def saved_quantize_config(saved: dict) -> QuantizeConfig:
    """The QuantizeConfig an artifact was made with, under today's names; artifacts saved before the
    `*_activations` settings ran dynamic int8 recurrent steps, and "dynamic" is now "dynamic-per-batch"."""
    earlier = {"lstm_activations": "dynamic-int8", "elman_activations": "dynamic-int8",
               "classifier_quantization": "dynamic-per-batch"}  # the defaults before each setting was saved
    return QuantizeConfig.from_dict({**earlier, **saved})


def quantized_skeleton(model: nn.Module, config: QuantizeConfig) -> nn.Module:
    """The quantized structure of a float student, with placeholder values, ready for `load_state_dict`."""
    _check_float_student(model)
    return _convert(model, config, None, skeleton=True)


def _check_float_student(model: nn.Module) -> None:
    from featherweight.students import StudentModel

    if not isinstance(model, StudentModel):
        raise TypeError(f"quantize expects a float student from build_student/load_student, got "
                        f"{type(model).__name__}.")
    if any(isinstance(m, (Int8RowEmbedding, HalfEmbedding, DynamicInt8Linear, WeightInt8Linear, DynamicInt8LSTM,
                          WeightInt8LSTM, StaticInt8Classifier)) for m in model.modules()):
        raise ValueError("This student is already quantized; quantize its float artifact instead.")


def _embedding(table: nn.Embedding, skeleton: bool, make) -> nn.Module:
    return make(table.num_embeddings, table.embedding_dim) if skeleton else make.from_float(table)


@torch.no_grad()
def _convert(model: nn.Module, config: QuantizeConfig, calibration, skeleton: bool) -> nn.Module:
    from featherweight.embeddings.modules import HashEmbedding, TokenEmbedding
    from featherweight.prune import make_permanent
    from featherweight.students import RecurrentEncoder

    model = make_permanent(copy.deepcopy(model)).eval()  # live pruning masks are folded into the copy
    with quiet():
        embedding = model.embedding
        if isinstance(embedding, HashEmbedding):
            if config.embedding_quantization == "int8-row":
                embedding.components = _embedding(embedding.components, skeleton, Int8RowEmbedding)
            if config.hash_importance_dtype == "float16":
                embedding.importance = _embedding(embedding.importance, skeleton, HalfEmbedding)
        elif isinstance(embedding, TokenEmbedding):
            if config.embedding_quantization == "int8-row":
                embedding.table = _embedding(embedding.table, skeleton, Int8RowEmbedding)
        elif config.embedding_quantization != "none":
            raise ValueError(f"No int8 recipe for embedding {type(embedding).__name__}; "
                             "use embedding_quantization='none'.")

        encoder = model.encoder
        if config.encoder_quantization == "dynamic-int8" and isinstance(encoder, RecurrentEncoder):
            if isinstance(encoder.rnn, nn.LSTM):
                lstm = encoder.rnn
                kind = WeightInt8LSTM if config.lstm_activations == "float" else DynamicInt8LSTM
                encoder.rnn = (kind(lstm.input_size, lstm.hidden_size, lstm.bidirectional, lstm.batch_first)
                               if skeleton else kind.from_float(lstm))
            else:  # Elman RNN: our step-by-step module, whose Linear layers get int8 weights
                elman = ElmanEncoder.from_recurrent(encoder)
                step = WeightInt8Linear if config.elman_activations == "float" else DynamicInt8Linear
                for name in ("forward_ih", "forward_hh", "backward_ih", "backward_hh"):
                    linear = getattr(elman, name)
                    setattr(elman, name, step(linear.in_features, linear.out_features)
                            if skeleton else step.from_float(linear))
                model.encoder = elman

        if config.classifier_quantization in ("dynamic-per-batch", "weight-only"):
            kind = DynamicInt8Linear if config.classifier_quantization == "dynamic-per-batch" else WeightInt8Linear
            for index, layer in enumerate(model.classifier):
                if isinstance(layer, nn.Linear):
                    model.classifier[index] = (kind(layer.in_features, layer.out_features)
                                               if skeleton else kind.from_float(layer))
        elif config.classifier_quantization == "static":
            if skeleton:
                model.classifier = StaticInt8Classifier.skeleton(model.classifier)
            else:
                features = _features(model, calibration)
                model.classifier = StaticInt8Classifier.from_float(model.classifier, features)
    return model.eval()


def _features(model: nn.Module, calibration: Iterable[tuple]) -> torch.Tensor:
    """Classifier inputs (N, F) of the (already quantized) front of `model` on every calibration batch."""
    parts = [model.features(*(inputs if isinstance(inputs, (tuple, list)) else (inputs,))) for inputs in calibration]
    if not parts:
        raise ValueError("The calibration batches are empty. " + CALIBRATION_HELP)
    return torch.cat(parts)


class Int8Weight(NamedTuple):
    """A stored int8 matrix with one float32 scale per row: value = values * scales[:, None] (zero point 0)."""

    values: torch.Tensor  # (rows, cols) int8
    scales: torch.Tensor  # (rows,) float32


def int8_weights(model: nn.Module) -> dict[str, Int8Weight | torch.Tensor]:
    """The stored weights of a quantized student under the float student's state-dict names.

    Int8 matrices come as Int8Weight, the rest (biases, float16 hash importance, unquantized parts) as
    tensors; activation scales of a static classifier are left out. For exporters reading a quantized artifact.
    """
    out: dict[str, Int8Weight | torch.Tensor] = {}
    renames = {}  # our module paths -> the float student's
    for path, module in model.named_modules():
        if isinstance(module, ElmanEncoder):
            for prefix, suffix in (("forward", "_l0"), ("backward", "_l0_reverse")):
                for kind in ("ih", "hh"):
                    renames[f"{path}.{prefix}_{kind}.weight"] = f"{path}.rnn.weight_{kind}{suffix}"
                    renames[f"{path}.{prefix}_{kind}.bias"] = f"{path}.rnn.bias_{kind}{suffix}"
        if isinstance(module, StaticInt8Classifier):
            for layer, index in enumerate(module.float_indices):
                for name in ("weight", "bias"):
                    renames[f"{path}.layers.{layer}.{name}"] = f"{path}.{index}.{name}"
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith(("_scale", "_zero_point")):
            continue  # weight scales travel with their weights; activation scales are not weights
        name = renames.get(key, key)
        out[name] = Int8Weight(value, state[key + "_scale"]) if value.dtype == torch.int8 else value
    return out
