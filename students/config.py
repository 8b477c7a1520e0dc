"""Student architecture config: one frozen dataclass and the thesis presets (Table 6.1) as copies of a default.

The embedding is configured and built elsewhere; this config only shapes what sits on top of it:
the encoder (BiLSTM, Elman RNN, or none for the FFN), the pooling, and the classifier MLP.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType
from typing import Any, Mapping

ARCHS = ("bilstm", "rnn", "ffn")
RECURRENT_ARCHS = ("bilstm", "rnn")
# Poolings each arch accepts. "last" needs a recurrent state, so the FFN (a bag of embeddings) has none.
POOLINGS = MappingProxyType(
    {"bilstm": ("last", "max", "mean"), "rnn": ("last", "max", "mean"), "ffn": ("mean", "max")}
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class StudentConfig:
    """Shape of one student: encoder, pooling and classifier. Defaults: the thesis single-sentence BiLSTM."""

    arch: str = "bilstm"  # one of ARCHS
    hidden_dim: int = 150  # recurrent state size per direction (the output is 2 * hidden_dim); must be 0 for "ffn"
    classifier_dim: int = 200  # hidden layer of the classifier MLP; 0 makes the classifier a single linear layer
    dropout: float = 0.1  # applied to the classifier input and to its hidden layer
    pooling: str = "last"  # "last" (true final state of each direction), "max" or "mean" over real tokens

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"Unknown student arch {self.arch!r}; expected one of {', '.join(ARCHS)}.")
        if not _is_int(self.hidden_dim) or self.hidden_dim < 0:
            raise ValueError(f"hidden_dim must be a non-negative int, got {self.hidden_dim!r}.")
        if self.arch in RECURRENT_ARCHS and self.hidden_dim == 0:
            raise ValueError(f"arch {self.arch!r} needs hidden_dim >= 1, got 0.")
        if self.arch == "ffn" and self.hidden_dim != 0:
            raise ValueError(
                f"arch 'ffn' has no recurrent encoder, so hidden_dim must be 0, got {self.hidden_dim}. "
                "Use student_preset('ffn', ...) or set hidden_dim=0."
            )
        if not _is_int(self.classifier_dim) or self.classifier_dim < 0:
            raise ValueError(
                f"classifier_dim must be a non-negative int (0 = linear classifier), got {self.classifier_dim!r}."
            )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}.")
        if self.pooling not in POOLINGS[self.arch]:
            raise ValueError(
                f"Unknown pooling {self.pooling!r} for arch {self.arch!r}; "
                f"expected one of {', '.join(POOLINGS[self.arch])}."
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudentConfig:
        """Rebuild a config saved by `to_dict`; missing fields take their defaults, unknown fields are an error."""
        if not isinstance(data, Mapping):
            raise TypeError(f"Expected a mapping of StudentConfig fields, got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown StudentConfig field(s) {unknown}; expected a subset of {sorted(known)}. "
                "Was this saved by a newer Featherweight?"
            )
        return cls(**data)


DEFAULT_STUDENT = StudentConfig()

# Thesis Table 6.1, single-sentence sizes. Pair tasks double hidden_dim and classifier_dim (see student_preset).
STUDENT_PRESETS: Mapping[str, StudentConfig] = MappingProxyType(
    {
        "bilstm": DEFAULT_STUDENT,
        "rnn": replace(
            DEFAULT_STUDENT,
            arch="rnn",
            hidden_dim=100,  # thesis: smaller Elman RNN (tanh)
            classifier_dim=100,  # thesis: classifier as wide as the RNN state
        ),
        "ffn": replace(
            DEFAULT_STUDENT,
            arch="ffn",
            hidden_dim=0,  # no recurrent encoder: a masked mean of the embeddings
            classifier_dim=100,  # thesis
            dropout=0.2,  # thesis: more dropout for the encoder-less student
            pooling="mean",  # thesis: mean of the embeddings
        ),
    }
)


def student_preset(arch: str, pair: bool = False, **overrides: Any) -> StudentConfig:
    """Thesis preset for `arch`; `pair=True` doubles hidden_dim and classifier_dim; `overrides` replace any field."""
    if arch not in STUDENT_PRESETS:
        raise ValueError(f"Unknown student arch {arch!r}; expected one of {', '.join(ARCHS)}.")
    config = STUDENT_PRESETS[arch]
    if pair:
        # thesis: sentence-pair students get twice the encoder and classifier width
        config = replace(config, hidden_dim=2 * config.hidden_dim, classifier_dim=2 * config.classifier_dim)
    known = {f.name for f in fields(StudentConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"Unknown StudentConfig field(s) {unknown} in overrides; expected some of {sorted(known)}.")
    return replace(config, **overrides)
