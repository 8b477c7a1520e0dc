"""Quantization-aware distillation: a short fine-tune of a float student whose weights are fake-quantized.

Each weight that `quantize` will store in int8 / 4 / 2 bits is replaced, in every forward pass, by exactly
the values `quantize` would store for it (featherweight.compression.quantized.lowbit.fake_quantize), and its gradient
passes straight through to the float weight. The student keeps training on its distillation rows and
soft targets, and the epoch with the best held-out score (the quantized model's, since the forward pass
is quantized) is kept. Quantizing the result then stores exactly the weights training saw.
Zeros stay zero (pruned weights and padding rows), and product-quantized tables train in float.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from featherweight.compression.distill import retrain as train_further
from featherweight.compression.prune import make_permanent
from featherweight.compression.quantize import IMPORTANCE_BITS, QuantizeConfig
from featherweight.compression.quantized.lowbit import LOWBIT_SCHEMES, fake_quantize
from featherweight.embeddings.modules import HashEmbedding, TokenEmbedding
from featherweight.students import RecurrentEncoder


@dataclass(frozen=True)
class FakeQuantized:
    """One weight to fake-quantize: module.<name>, under `scheme` (int8-row, int4-row, int2-row)."""

    module: nn.Module
    name: str
    scheme: str
    per_tensor: bool = False


def fake_quantized_weights(model: nn.Module, config: QuantizeConfig) -> list[FakeQuantized]:
    """The weights of a float student that `quantize(model, config)` stores in integers, with their schemes."""
    table_scheme = config.embedding_quantization if config.embedding_quantization in ("int8-row",
                                                                                     *LOWBIT_SCHEMES) else None
    found = []
    embedding = model.embedding
    if isinstance(embedding, HashEmbedding):
        if table_scheme:
            found.append(FakeQuantized(embedding.components, "weight", table_scheme))
        if config.hash_importance_dtype in IMPORTANCE_BITS:
            scheme = f"int{IMPORTANCE_BITS[config.hash_importance_dtype]}-row"
            found.append(FakeQuantized(embedding.importance, "weight", scheme, per_tensor=True))
    elif isinstance(embedding, TokenEmbedding) and table_scheme:
        found.append(FakeQuantized(embedding.table, "weight", table_scheme))
    encoder = model.encoder
    if config.encoder_quantization != "none" and isinstance(encoder, RecurrentEncoder):
        scheme = "int8-row" if config.encoder_quantization == "dynamic-int8" else config.encoder_quantization
        found += [FakeQuantized(encoder.rnn, name, scheme) for name, _ in encoder.rnn.named_parameters()
                  if name.startswith("weight_")]
    if config.classifier_quantization != "none":
        scheme = config.classifier_quantization if config.classifier_quantization in LOWBIT_SCHEMES else "int8-row"
        found += [FakeQuantized(layer, "weight", scheme) for layer in model.classifier if isinstance(layer, nn.Linear)]
    return found


class FakeQuantization:
    """Installs fake quantization on a float student's weights; `remove()` leaves the trained float weights.

    The float weight moves to `<name>_float` (the Parameter the optimizer updates) and a forward pre-hook
    sets `<name>` to its fake-quantized value before each call (setattr keeps nn.LSTM's flat weights current).
    """

    def __init__(self, model: nn.Module, config: QuantizeConfig) -> None:
        self.weights = fake_quantized_weights(model, config)
        self.keeps, self.handles = [], []
        for weight in self.weights:
            module, name = weight.module, weight.name
            parameter = module._parameters.pop(name)
            module.register_parameter(f"{name}_float", parameter)
            keep = (parameter.detach() != 0).float()  # pruned weights and padding rows stay exactly zero
            self.keeps.append(keep)
            self.handles.append(module.register_forward_pre_hook(self._hook(weight, keep)))
            self._refresh(weight, keep)

    @staticmethod
    def _refresh(weight: FakeQuantized, keep: torch.Tensor) -> None:
        parameter = getattr(weight.module, f"{weight.name}_float")
        value = parameter * keep.to(parameter.device)  # the student may have moved to a GPU
        setattr(weight.module, weight.name, fake_quantize(value, weight.scheme, weight.per_tensor))

    def _hook(self, weight: FakeQuantized, keep: torch.Tensor):
        def hook(module, inputs):
            self._refresh(weight, keep)
        return hook

    @torch.no_grad()
    def remove(self) -> None:
        """Put the float weights back as plain Parameters (zeros kept) and drop the hooks."""
        for weight, keep, handle in zip(self.weights, self.keeps, self.handles):
            handle.remove()
            module, name = weight.module, weight.name
            parameter = module._parameters.pop(f"{name}_float").detach()
            value = parameter * keep.to(parameter.device)
            delattr(module, name)
            module.register_parameter(name, nn.Parameter(value))
            if isinstance(module, nn.RNNBase):
                module._init_flat_weights()  # its forward reads the flat list, not the attribute
        self.weights, self.keeps, self.handles = [], [], []


def quantization_aware(model: nn.Module, tokenizer, tokenizer_dir, quantization: QuantizeConfig,
                       retrain) -> tuple[nn.Module, list[dict]]:
    """A copy of the float student fine-tuned for quantization.qat_epochs with fake-quantized weights, on the rows
    and soft targets of `retrain` (its DistillConfig); returns (float model, history). The input is left alone."""
    model = make_permanent(copy.deepcopy(model))  # pruning masks become zeros, which fake quantization keeps
    settings = {"epochs": quantization.qat_epochs, "patience": quantization.qat_epochs}
    if quantization.qat_learning_rate is not None:
        settings["learning_rate"] = quantization.qat_learning_rate
    fake = FakeQuantization(model, quantization)
    try:
        history = train_further(model, tokenizer, tokenizer_dir, dataclasses.replace(retrain, **settings))
    finally:
        fake.remove()
    return model.eval(), history
