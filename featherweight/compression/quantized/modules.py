"""Quantized drop-in modules for students; their state is plain tensors (int8 weights, float scales).

Naming: every quantization parameter ends in `_scale` or `_zero_point`, so size accounting can tell
them from weights. Each module has `from_float(module, ...)` (quantize trained weights) and a plain
constructor that makes a zero skeleton of the right shapes for `load_state_dict`.
Backend objects (prepacked weights) are derived from the tensors on first use and rebuilt after loading.
"""
from __future__ import annotations

import torch
from torch import nn

from . import backend


class _Derived(nn.Module):
    """Base for modules that cache a backend object derived from their buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.__dict__["_cache"] = None  # not a submodule or buffer: never part of the state dict

    def _load_from_state_dict(self, *args, **kwargs):
        self.__dict__["_cache"] = None
        super()._load_from_state_dict(*args, **kwargs)

    def _backend(self):
        if self._cache is None:
            self.__dict__["_cache"] = self._build()
        return self._cache

    def _build(self):
        raise NotImplementedError

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError(f"{type(self).__name__} is for inference only; train the float student, then quantize.")
        return super().train(False)


class Int8RowEmbedding(nn.Module):
    """Weight-only int8 embedding: row i is weight[i] * weight_scale[i] (symmetric, one scale per row)."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.register_buffer("weight", torch.zeros(num_embeddings, embedding_dim, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(num_embeddings))

    @classmethod
    def from_float(cls, embedding: nn.Embedding) -> Int8RowEmbedding:
        module = cls(embedding.num_embeddings, embedding.embedding_dim)
        module.weight, module.weight_scale = backend.symmetric_int8(embedding.weight)
        return module

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids].float() * self.weight_scale[ids].unsqueeze(-1)  # (..., dim)


class HalfEmbedding(nn.Module):
    """Embedding stored in float16 and read as float32 (the hash importance weights)."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.register_buffer("weight", torch.zeros(num_embeddings, embedding_dim, dtype=torch.float16))

    @classmethod
    def from_float(cls, embedding: nn.Embedding) -> HalfEmbedding:
        module = cls(embedding.num_embeddings, embedding.embedding_dim)
        module.weight = embedding.weight.detach().to(torch.float16)
        return module

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids].float()


class _Int8Linear(_Derived):
    """Storage shared by the int8 Linear layers: int8 weights with one scale per output row, float bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    def from_float(cls, linear: nn.Linear):
        module = cls(linear.in_features, linear.out_features, linear.bias is not None)
        module.weight, module.weight_scale = backend.symmetric_int8(linear.weight)
        if linear.bias is not None:
            module.bias = linear.bias.detach().float().clone()
        return module


class DynamicInt8Linear(_Int8Linear):
    """nn.Linear with int8 weights (per output row) whose input is quantized on the fly at each call.

    One activation scale covers the whole call, so a row's output depends on the other rows of its batch
    (classifier_quantization="dynamic-per-batch"); WeightInt8Linear is the batch-independent default.
    """

    def _build(self):
        return backend.pack_linear(self.weight, self.weight_scale, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return backend.linear_dynamic(x, self._backend())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 dynamic per batch"


class WeightInt8Linear(_Int8Linear):
    """nn.Linear with int8 weights (per output row) and float activations: y = x (q * scale)^T + b.

    Unlike DynamicInt8Linear, a row's output never depends on the other rows of its batch (no per-call
    activation scale), which is what a recurrent cell run at every step needs, and what the C export computes.
    """

    def _build(self):
        return backend.dequantize(self.weight, self.weight_scale)  # (out, in) dequantized once, then reused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self._backend(), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights, float activations"


class _Int8LSTM(_Derived):
    """Storage shared by the int8 LSTMs: a one-layer (bi)LSTM's weights as int8 rows with float scales, float biases.

    The buffers carry nn.LSTM's names (weight_ih_l0, ..., plus *_scale), so both LSTMs load the same state dict.
    """

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool, batch_first: bool) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.bidirectional, self.batch_first = bidirectional, batch_first
        for suffix in self._suffixes():
            for kind, width in (("ih", input_size), ("hh", hidden_size)):
                self.register_buffer(f"weight_{kind}{suffix}", torch.zeros(4 * hidden_size, width, dtype=torch.int8))
                self.register_buffer(f"weight_{kind}{suffix}_scale", torch.ones(4 * hidden_size))
                self.register_buffer(f"bias_{kind}{suffix}", torch.zeros(4 * hidden_size))

    def _suffixes(self) -> list[str]:
        return ["_l0", "_l0_reverse"] if self.bidirectional else ["_l0"]

    def _names(self) -> list[str]:
        return [f"{kind}{suffix}" for suffix in self._suffixes() for kind in ("ih", "hh")]

    @classmethod
    def from_float(cls, lstm: nn.LSTM):
        if lstm.num_layers != 1 or not lstm.bias or lstm.proj_size:
            raise ValueError(f"{cls.__name__} quantizes one-layer LSTMs with biases and no projection, got {lstm}.")
        module = cls(lstm.input_size, lstm.hidden_size, lstm.bidirectional, lstm.batch_first)
        for name in module._names():
            q, scale = backend.symmetric_int8(getattr(lstm, f"weight_{name}"))
            setattr(module, f"weight_{name}", q)
            setattr(module, f"weight_{name}_scale", scale)
            setattr(module, f"bias_{name}", getattr(lstm, f"bias_{name}").detach().float().clone())
        return module


class DynamicInt8LSTM(_Int8LSTM):
    """A one-layer (bi)LSTM with int8 weights, run by torch's dynamic int8 LSTM; accepts PackedSequence.

    Activations are quantized on the fly with one scale per call, so an output depends a little on
    the other sentences of its batch (the thesis recipe).
    """

    def _build(self):
        names = self._names()
        weights = {f"weight_{n}": (getattr(self, f"weight_{n}"), getattr(self, f"weight_{n}_scale")) for n in names}
        biases = {f"bias_{n}": getattr(self, f"bias_{n}") for n in names}
        return backend.dynamic_lstm(self.input_size, self.hidden_size, self.bidirectional, self.batch_first,
                                    weights, biases)

    def forward(self, x, hx=None):
        with backend.quiet():
            return self._backend()(x, hx)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bidirectional={self.bidirectional}, int8 dynamic"


class WeightInt8LSTM(_Int8LSTM):
    """A one-layer (bi)LSTM with int8 weights and float activations; accepts PackedSequence.

    The weights are dequantized once into a float nn.LSTM: a sentence's output never depends on its
    batch mates, and it is what the C export computes (int8 rows times float scales, float state).
    """

    def _build(self):
        lstm = nn.LSTM(self.input_size, self.hidden_size, batch_first=self.batch_first,
                       bidirectional=self.bidirectional)
        with torch.no_grad():
            for name in self._names():
                weight = backend.dequantize(getattr(self, f"weight_{name}"), getattr(self, f"weight_{name}_scale"))
                getattr(lstm, f"weight_{name}").copy_(weight)
                getattr(lstm, f"bias_{name}").copy_(getattr(self, f"bias_{name}"))
        return lstm.eval().requires_grad_(False)

    def forward(self, x, hx=None):
        return self._backend()(x, hx)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bidirectional={self.bidirectional}, "
                "int8 weights, float activations")


class StaticInt8Linear(_Derived):
    """One layer of a static int8 MLP: quint8 in, quint8 out at a calibrated scale, optional fused ReLU."""

    def __init__(self, in_features: int, out_features: int, relu: bool) -> None:
        super().__init__()
        self.in_features, self.out_features, self.relu = in_features, out_features, relu
        self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features))
        self.register_buffer("output_scale", torch.ones(()))
        self.register_buffer("output_zero_point", torch.zeros((), dtype=torch.int64))

    @classmethod
    def from_float(cls, linear: nn.Linear, relu: bool, output_range: tuple[float, float]) -> StaticInt8Linear:
        module = cls(linear.in_features, linear.out_features, relu)
        module.weight, module.weight_scale = backend.symmetric_int8(linear.weight)
        module.bias = linear.bias.detach().float().clone()
        scale, zero_point = backend.activation_qparams(*output_range)
        module.output_scale, module.output_zero_point = torch.tensor(scale), torch.tensor(zero_point)
        return module

    def _build(self):
        return backend.pack_linear(self.weight, self.weight_scale, self.bias)

    def forward(self, qx: torch.Tensor) -> torch.Tensor:
        return backend.linear_static(qx, self._backend(), float(self.output_scale), int(self.output_zero_point),
                                     self.relu)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, relu={self.relu}, int8 static"


class StaticInt8Classifier(nn.Module):
    """The classifier MLP run in int8 end to end: quantize features once, int8 layers, dequantize logits.

    Scales come from calibration features (the held-out train slice, never dev): min/max per activation.
    """

    def __init__(self, shapes: list[tuple[int, int, bool]], num_labels: int, float_indices: list[int]) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.float_indices = list(float_indices)  # position of each layer's Linear in the float Sequential
        self.register_buffer("input_scale", torch.ones(()))
        self.register_buffer("input_zero_point", torch.zeros((), dtype=torch.int64))
        self.layers = nn.ModuleList([StaticInt8Linear(i, o, relu) for i, o, relu in shapes])

    @staticmethod
    def _float_layers(classifier: nn.Sequential) -> list[tuple[int, nn.Linear, bool]]:
        """(index, Linear, followed-by-ReLU) of a Dropout/Linear/ReLU stack; Dropout is the identity here."""
        modules = [(i, m) for i, m in enumerate(classifier) if not isinstance(m, nn.Dropout)]
        layers = []
        for position, (index, module) in enumerate(modules):
            if isinstance(module, nn.Linear):
                relu = position + 1 < len(modules) and isinstance(modules[position + 1][1], nn.ReLU)
                layers.append((index, module, relu))
            elif not isinstance(module, nn.ReLU):
                raise ValueError(f"Static quantization handles Dropout/Linear/ReLU classifiers, found "
                                 f"{type(module).__name__}; use classifier_quantization='weight-only'.")
        if not layers:
            raise ValueError("The classifier has no Linear layer to quantize.")
        return layers

    @classmethod
    def skeleton(cls, classifier: nn.Sequential) -> StaticInt8Classifier:
        layers = cls._float_layers(classifier)
        return cls([(m.in_features, m.out_features, relu) for _, m, relu in layers], layers[-1][1].out_features,
                   [index for index, _, _ in layers])

    @classmethod
    @torch.no_grad()
    def from_float(cls, classifier: nn.Sequential, features: torch.Tensor) -> StaticInt8Classifier:
        """Quantize `classifier`, calibrating every activation range on `features` (N, F)."""
        if features.dim() != 2 or features.shape[0] == 0:
            raise ValueError(f"Calibration features must be a non-empty (N, F) tensor, got {tuple(features.shape)}.")
        module = cls.skeleton(classifier)
        scale, zero_point = backend.activation_qparams(features.min(), features.max())
        module.input_scale, module.input_zero_point = torch.tensor(scale), torch.tensor(zero_point)
        layers = []
        x = features.float()
        for _, linear, relu in cls._float_layers(classifier):
            x = linear(x)
            x = torch.relu(x) if relu else x
            layers.append(StaticInt8Linear.from_float(linear, relu, (float(x.min()), float(x.max()))))
        module.layers = nn.ModuleList(layers)
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = backend.quantize_activation(x, float(self.input_scale), int(self.input_zero_point))
        for layer in self.layers:
            q = layer(q)
        return q.dequantize()  # (B, num_labels)
