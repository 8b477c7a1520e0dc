"""Build a student on a given embedding, and count its parameters per part."""
from __future__ import annotations

from torch import nn

from .classifier import Classifier
from .config import StudentConfig
from .ffn import BagOfEmbeddings
from .model import StudentModel
from .recurrent import RecurrentEncoder


def build_student(config: StudentConfig, embedding: nn.Module, num_labels: int, pair: bool) -> StudentModel:
    """Build the student `config` describes on top of `embedding` (ids (B, T, C) -> (B, T, D))."""
    if not isinstance(config, StudentConfig):
        raise TypeError(
            f"Expected a StudentConfig, got {type(config).__name__}. "
            "Use student_preset(arch, pair) or StudentConfig.from_dict(d)."
        )
    if not isinstance(embedding, nn.Module):
        raise TypeError(f"Expected the embedding to be a torch.nn.Module, got {type(embedding).__name__}.")
    dim = getattr(embedding, "embedding_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(
            f"The embedding must expose a positive int attribute `embedding_dim`, got {dim!r} "
            f"on {type(embedding).__name__}."
        )
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(f"num_labels must be a positive int, got {num_labels!r}.")
    if not isinstance(pair, bool):
        raise TypeError(f"pair must be True or False, got {pair!r}.")

    if config.arch == "ffn":
        encoder: nn.Module = BagOfEmbeddings(dim, config.pooling)
    else:
        encoder = RecurrentEncoder(config.arch, dim, config.hidden_dim, config.pooling)
    width = encoder.output_dim * (4 if pair else 1)  # pairs feed [u; v; |u-v|; u*v]
    classifier = Classifier(width, config.classifier_dim, num_labels, config.dropout)
    return StudentModel(config, embedding, encoder, classifier, num_labels, pair)


def parameter_groups(model: StudentModel) -> dict[str, int]:
    """Parameter count per part: {"embedding", "encoder", "classifier"}; together they cover the whole model."""
    if not isinstance(model, StudentModel):
        raise TypeError(f"Expected a model from build_student, got {type(model).__name__}.")
    return {
        "embedding": sum(p.numel() for p in model.embedding.parameters()),
        "encoder": sum(p.numel() for p in model.encoder.parameters()),
        "classifier": sum(p.numel() for p in model.classifier.parameters()),
    }
