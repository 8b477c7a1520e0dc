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
The quantized layers live in featherweight.compression.quantized; only its backend module touches torch.ao.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Iterable, Literal, NamedTuple

import torch
from torch import nn

from featherweight.batching import bucketed_batches
from featherweight.compression.prune import make_permanent
from featherweight.compression.quantized import (DynamicInt8Linear, DynamicInt8LSTM, ElmanEncoder, HalfEmbedding,
                                                 Int8RowEmbedding, StaticInt8Classifier, WeightInt8Linear,
                                                 WeightInt8LSTM, quiet)
from featherweight.compression.quantized.lowbit import (LOWBIT_SCHEMES, LowBitEmbedding, LowBitLinear, LowBitLSTM,
                                                        PQEmbedding)
from featherweight.config_io import from_known_fields
from featherweight.embeddings.modules import HashEmbedding, TokenEmbedding
from featherweight.students import RecurrentEncoder, StudentModel

CALIBRATION_HELP = ("Static classifier quantization needs calibration batches from the held-out train slice "
                    "(never dev): pass calibration=calibration_batches(encode_data(tokenizer, "
                    "load_splits(data)['heldout'])), or use classifier_quantization='weight-only'.")
CLASSIFIER_SCHEMES = ("weight-only", "dynamic-per-batch", "static", "int4-row", "int2-row", "none")
IMPORTANCE_BITS = {"int8": 8, "int4": 4, "int2": 2}
CALIBRATION_ROWS = 4096  # held-out rows that calibrate PyTorch static int8 scales (running min/max: no memory cost)
QUANTIZED_MODULES = (Int8RowEmbedding, HalfEmbedding, DynamicInt8Linear, WeightInt8Linear, DynamicInt8LSTM,
                     WeightInt8LSTM, StaticInt8Classifier, LowBitEmbedding, LowBitLinear, LowBitLSTM, PQEmbedding)


@dataclass
class QuantizeConfig:
    """What to quantize and how: the thesis recipe with float activations (batch-independent) by default."""

    # embedding tables. int8-row: one scale per row; int4-row / int2-row: 4- or 2-bit codes packed into bytes, a
    # float16 scale per row; pq: product quantization (pq_subvector_dim dims a sub-space, pq_bits-bit codes)
    embedding_quantization: Literal["int8-row", "int4-row", "int2-row", "pq", "none"] = "int8-row"
    # LSTM / Elman RNN weights: dynamic-int8 (int8 rows; the state is set by *_activations), or 4- / 2-bit rows
    # with float state
    encoder_quantization: Literal["dynamic-int8", "int4-row", "int2-row", "none"] = "dynamic-int8"
    lstm_activations: Literal["float", "dynamic-int8"] = "float"  # LSTM state: float, or dynamic-int8 as in the thesis
    elman_activations: Literal["float", "dynamic-int8"] = "float"  # Elman RNN state: float, or dynamic-int8 (thesis)
    # classifier int8 scheme. weight-only: int8 weights, float input, a row's logits never depend on its batch
    # (what the C and ONNX int8 exports compute); dynamic-per-batch (formerly "dynamic"): input quantized on the fly
    # with one scale per batch, so logits depend on the batch mates; static: fixed scales calibrated on held-out rows;
    # int4-row / int2-row: 4- or 2-bit weights, float input
    classifier_quantization: Literal["weight-only", "dynamic-per-batch", "static", "int4-row", "int2-row", "none",
                                     "dynamic"] = "weight-only"
    # hash importance scalars: float16 (thesis), float32, or int8 / int4 / int2 codes with one scale per table
    hash_importance_dtype: Literal["float16", "float32", "int8", "int4", "int2"] = "float16"
    pq_subvector_dim: int = 4  # embedding_quantization pq: dims per sub-vector (the last one is zero-padded)
    pq_bits: int = 8  # embedding_quantization pq: bits per code, 4 (16 centroids) or 8 (256) per sub-space
    # quantization-aware fine-tune epochs before quantizing (fake-quantized weights, straight-through gradients,
    # the student's own distillation rows and soft targets); 0 quantizes the trained weights as they are
    qat_epochs: int = 0
    qat_learning_rate: float | None = None  # learning rate of the QAT fine-tune; default: the student's own
    calibration_rows: int = CALIBRATION_ROWS  # static scales are calibrated on the first held-out train rows

    def __post_init__(self):
        if self.classifier_quantization == "dynamic":  # its name until issue 17: earlier artifacts and configs
            self.classifier_quantization = "dynamic-per-batch"
        choices = {"embedding_quantization": ("int8-row", "int4-row", "int2-row", "pq", "none"),
                   "encoder_quantization": ("dynamic-int8", "int4-row", "int2-row", "none"),
                   "lstm_activations": ("float", "dynamic-int8"), "elman_activations": ("float", "dynamic-int8"),
                   "classifier_quantization": CLASSIFIER_SCHEMES,
                   "hash_importance_dtype": ("float16", "float32", *IMPORTANCE_BITS), "pq_bits": (4, 8)}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}.")
        if isinstance(self.calibration_rows, bool) or not isinstance(self.calibration_rows, int) \
                or self.calibration_rows < 1:
            raise ValueError(f"calibration_rows must be a positive int, got {self.calibration_rows!r}.")
        if isinstance(self.pq_subvector_dim, bool) or not isinstance(self.pq_subvector_dim, int) \
                or self.pq_subvector_dim < 1:
            raise ValueError(f"pq_subvector_dim must be a positive int, got {self.pq_subvector_dim!r}.")
        if isinstance(self.pq_bits, bool) or not isinstance(self.pq_bits, int):
            raise ValueError(f"pq_bits must be one of [4, 8], got {self.pq_bits!r}.")
        if isinstance(self.qat_epochs, bool) or not isinstance(self.qat_epochs, int) or self.qat_epochs < 0:
            raise ValueError(f"qat_epochs must be an int >= 0, got {self.qat_epochs!r}.")
        if self.qat_learning_rate is not None and not self.qat_learning_rate > 0:
            raise ValueError(f"qat_learning_rate must be positive, got {self.qat_learning_rate!r}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> QuantizeConfig:
        return from_known_fields(cls, data, " Was this artifact saved by a newer Featherweight?")


def calibration_batches(encoded, batch_size: int = 256, max_rows: int | None = None) -> list[tuple]:
    """Model inputs for the first `max_rows` rows of an EncodedData (the held-out slice), length-bucketed."""
    import numpy as np


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
    if not isinstance(model, StudentModel):
        raise TypeError(f"quantize expects a float student from build_student/load_student, got "
                        f"{type(model).__name__}.")
    if any(isinstance(m, QUANTIZED_MODULES) for m in model.modules()):
        raise ValueError("This student is already quantized; quantize its float artifact instead.")


def _table(table: nn.Embedding, scheme: str, config: QuantizeConfig, skeleton: bool) -> nn.Module:
    """An embedding table under `scheme` (int8-row, int4-row, int2-row or pq)."""
    rows, dim = table.num_embeddings, table.embedding_dim
    if scheme == "int8-row":
        return Int8RowEmbedding(rows, dim) if skeleton else Int8RowEmbedding.from_float(table)
    if scheme == "pq":
        return (PQEmbedding(rows, dim, config.pq_subvector_dim, config.pq_bits) if skeleton
                else PQEmbedding.from_float(table, config.pq_subvector_dim, config.pq_bits))
    bits = LOWBIT_SCHEMES[scheme]
    return LowBitEmbedding(rows, dim, bits) if skeleton else LowBitEmbedding.from_float(table, bits)


def _importance(table: nn.Embedding, dtype: str, skeleton: bool) -> nn.Module:
    """Hash importance weights in float16, or as b-bit codes with one scale for the table."""
    if dtype == "float16":
        return HalfEmbedding(table.num_embeddings, table.embedding_dim) if skeleton else HalfEmbedding.from_float(table)
    bits = IMPORTANCE_BITS[dtype]
    return (LowBitEmbedding(table.num_embeddings, table.embedding_dim, bits, per_tensor=True) if skeleton
            else LowBitEmbedding.from_float(table, bits, per_tensor=True))


def _linear(linear: nn.Linear, kind, skeleton: bool, bits: int | None = None) -> nn.Module:
    """`linear` as an int8 layer of class `kind`, or as a LowBitLinear when `bits` is given."""
    if bits is not None:
        return (LowBitLinear(linear.in_features, linear.out_features, bits, linear.bias is not None) if skeleton
                else LowBitLinear.from_float(linear, bits))
    return kind(linear.in_features, linear.out_features) if skeleton else kind.from_float(linear)


@torch.no_grad()
def _convert(model: nn.Module, config: QuantizeConfig, calibration, skeleton: bool) -> nn.Module:
    model = make_permanent(copy.deepcopy(model)).eval()  # live pruning masks are folded into the copy
    with quiet():
        embedding = model.embedding
        if isinstance(embedding, HashEmbedding):
            if config.embedding_quantization != "none":
                embedding.components = _table(embedding.components, config.embedding_quantization, config, skeleton)
            if config.hash_importance_dtype != "float32":
                embedding.importance = _importance(embedding.importance, config.hash_importance_dtype, skeleton)
        elif isinstance(embedding, TokenEmbedding):
            if config.embedding_quantization != "none":
                embedding.table = _table(embedding.table, config.embedding_quantization, config, skeleton)
        elif config.embedding_quantization != "none":
            raise ValueError(f"No quantization recipe for embedding {type(embedding).__name__}; "
                             "use embedding_quantization='none'.")

        encoder, bits = model.encoder, LOWBIT_SCHEMES.get(config.encoder_quantization)
        if config.encoder_quantization != "none" and isinstance(encoder, RecurrentEncoder):
            if isinstance(encoder.rnn, nn.LSTM):
                lstm = encoder.rnn
                if bits is not None:
                    encoder.rnn = (LowBitLSTM(lstm.input_size, lstm.hidden_size, lstm.bidirectional, lstm.batch_first,
                                              bits) if skeleton else LowBitLSTM.from_float(lstm, bits))
                else:
                    kind = WeightInt8LSTM if config.lstm_activations == "float" else DynamicInt8LSTM
                    encoder.rnn = (kind(lstm.input_size, lstm.hidden_size, lstm.bidirectional, lstm.batch_first)
                                   if skeleton else kind.from_float(lstm))
            else:  # Elman RNN: our step-by-step module, whose Linear layers get quantized weights
                elman = ElmanEncoder.from_recurrent(encoder)
                step = WeightInt8Linear if config.elman_activations == "float" else DynamicInt8Linear
                for name in ("forward_ih", "forward_hh", "backward_ih", "backward_hh"):
                    setattr(elman, name, _linear(getattr(elman, name), step, skeleton, bits))
                model.encoder = elman

        scheme = config.classifier_quantization
        if scheme in ("dynamic-per-batch", "weight-only", *LOWBIT_SCHEMES):
            kind = DynamicInt8Linear if scheme == "dynamic-per-batch" else WeightInt8Linear
            for index, layer in enumerate(model.classifier):
                if isinstance(layer, nn.Linear):
                    model.classifier[index] = _linear(layer, kind, skeleton, LOWBIT_SCHEMES.get(scheme))
        elif scheme == "static":
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
    """A stored int8 matrix with one float32 scale per row: value = values * scales[:, None] (zero point 0).

    `bits` < 8: the values are b-bit codes (|value| <= 2^(b-1) - 1) stored packed. `pq`: the rows are a product-
    quantized table, stored as (codes (rows, subspaces) int64, codebooks (subspaces, 2^b, d) int8, b); the values
    are its reconstruction (rows of codebook entries, the last sub-vector cut to the table's width).
    """

    values: torch.Tensor  # (rows, cols) int8
    scales: torch.Tensor  # (rows,) float32
    bits: int = 8
    pq: tuple | None = None
    per_tensor: bool = False  # one scale for the whole table (hash importance), repeated in `scales`


def int8_weights(model: nn.Module) -> dict[str, Int8Weight | torch.Tensor]:
    """The stored weights of a quantized student under the float student's state-dict names.

    Int8 matrices come as Int8Weight, the rest (biases, float16 hash importance, unquantized parts) as
    tensors; activation scales of a static classifier are left out. 4- and 2-bit rows (hash importance too, its
    one scale repeated per row) come as Int8Weight of their codes and float16 scales with `bits`, product-
    quantized tables as Int8Weight of the reconstructed int8 rows and the codebook scale with `pq`: an exporter
    reading values * scales computes exactly what the model does. For exporters reading a quantized artifact.
    """
    out: dict[str, Int8Weight | torch.Tensor] = {}
    renames, lowbit = {}, {}  # our module paths -> the float student's; low-bit modules by path
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
        if isinstance(module, (LowBitEmbedding, LowBitLinear, LowBitLSTM, PQEmbedding)):
            lowbit[path] = module
    for path, module in lowbit.items():
        out.update(_lowbit_weights(path, module, renames))
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith(("_scale", "_zero_point")) or key.rpartition(".")[0] in lowbit:
            continue  # weight scales travel with their weights; activation scales are not weights
        name = renames.get(key, key)
        out[name] = Int8Weight(value, state[key + "_scale"]) if value.dtype == torch.int8 else value
    return out


def _lowbit_weights(path: str, module: nn.Module, renames: dict) -> dict:
    """int8_weights' entries for one low-bit module at `path`."""
    if isinstance(module, PQEmbedding):
        rows = module.num_embeddings
        return {f"{path}.weight": Int8Weight(module.int8_rows(), module.codebooks_scale.expand(rows).clone(),
                                             pq=(module.codes(), module.codebooks, module.bits))}
    if isinstance(module, LowBitLSTM):
        out = {}
        for name in module.names():
            codes, scale = module.codes(name)
            out[f"{path}.weight_{name}"] = Int8Weight(codes, scale.float(), module.bits)
            out[f"{path}.bias_{name}"] = getattr(module, f"bias_{name}")
        return out
    codes, scale = module.codes()  # a per-tensor scale (hash importance) is repeated for every row
    out = {renames.get(f"{path}.weight", f"{path}.weight"): Int8Weight(codes, scale.float().expand(len(codes)).clone(),
                                                                       module.bits, per_tensor=module.per_tensor)}
    if isinstance(module, LowBitLinear) and module.bias is not None:
        out[renames.get(f"{path}.bias", f"{path}.bias")] = module.bias
    return out
