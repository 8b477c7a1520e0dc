"""Prune a student's weights: top-V and magnitude methods, local or global, one-shot or gradual in training.

Parts and their default local sparsity are the thesis Table 6.3: LSTM 50%, RNN 10%, Linear 12.5%,
hash embedding 0%, character embedding 30%, BPE embedding 40%. Weight matrices are pruned, biases
never. Pruning works through torch.nn.utils.prune (weight = weight_orig * weight_mask); `prune()`
returns a copy whose masks are already permanent, and artifacts are always saved with permanent masks.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from featherweight.config_io import from_known_fields
from featherweight.students import RecurrentEncoder, StudentModel

logger = logging.getLogger(__name__)

PARTS = ("lstm", "rnn", "linear", "hash", "char", "bpe")
TABLE_6_3 = {"lstm": 0.5, "rnn": 0.1, "linear": 0.125, "hash": 0.0, "char": 0.3, "bpe": 0.4}
# the prunable table of each embedding kind (the module's `kind`, its part): hash prunes its shared components
EMBEDDING_TABLES = {"hash": "components", "char": "table", "bpe": "table"}


class TopVPruning(torch_prune.BasePruningMethod):
    """Keep the top (1 - amount) fraction of entries by magnitude; prune the smallest `amount` fraction.

    Entries already pruned by `default_mask` count first, so the result has exactly
    round(amount * numel) zeros whenever the old mask had no more than that.
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: float) -> None:
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0.0 <= amount <= 1.0:
            raise ValueError(f"TopVPruning amount is the fraction to prune, in [0, 1]; got {amount!r}.")
        self.amount = float(amount)

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        mask = default_mask.clone()
        count = round(self.amount * t.numel())
        if count:
            scores = t.detach().abs().masked_fill(default_mask == 0, -1.0).reshape(-1)
            mask.view(-1)[torch.topk(scores, count, largest=False).indices] = 0
        return mask

    @classmethod
    def apply(cls, module: nn.Module, name: str, amount: float):  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class MagnitudePruning(torch_prune.BasePruningMethod):
    """Prune every entry whose magnitude is at most `threshold` (an absolute value, not a fraction)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, threshold: float) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
            raise ValueError(f"MagnitudePruning threshold must be a number >= 0, got {threshold!r}.")
        self.threshold = float(threshold)

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        return default_mask * (t.detach().abs() > self.threshold).to(default_mask.dtype)

    @classmethod
    def apply(cls, module: nn.Module, name: str, threshold: float):  # type: ignore[override]
        return super().apply(module, name, threshold=threshold)


@dataclass
class PruneConfig:
    """How to prune; the defaults are the thesis recipe (post-training local top-V, Table 6.3 targets)."""

    pruning_method: Literal["top-v", "magnitude"] = "top-v"  # top-v: to a target sparsity; magnitude: by threshold
    pruning_scope: Literal["local", "global"] = "local"  # local: each tensor to its part's sparsity; global: pooled
    sparsity_lstm: float = TABLE_6_3["lstm"]  # fraction of LSTM weights pruned (thesis Table 6.3)
    sparsity_rnn: float = TABLE_6_3["rnn"]  # fraction of Elman RNN weights pruned (Table 6.3)
    sparsity_linear: float = TABLE_6_3["linear"]  # fraction of classifier (Linear) weights pruned (Table 6.3)
    sparsity_hash: float = TABLE_6_3["hash"]  # fraction of hash embedding weights pruned; hash tables are already tiny
    sparsity_char: float = TABLE_6_3["char"]  # fraction of char embedding weights pruned (thesis text; code 0.4)
    sparsity_bpe: float = TABLE_6_3["bpe"]  # fraction of BPE embedding weights pruned (Table 6.3)
    global_sparsity: float = 0.3  # global top-v: fraction of all weights in global_parts
    magnitude_threshold: float = 0.01  # magnitude: prune |w| <= this, in every tensor of global_parts
    global_parts: tuple[str, ...] = ("lstm", "rnn", "linear", "char", "bpe")  # parts pooled by global top-v, magnitude
    pruning_schedule: Literal["one-shot", "gradual"] = "one-shot"  # one-shot after training, or gradual during it
    gradual_end: float = 0.85  # fraction of training steps at which gradual pruning reaches the target
    gradual_every: int = 10  # optimizer steps between mask updates

    def __post_init__(self):
        choices = {"pruning_method": ("top-v", "magnitude"), "pruning_scope": ("local", "global"),
                   "pruning_schedule": ("one-shot", "gradual")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}.")
        for name in [f"sparsity_{part}" for part in PARTS] + ["global_sparsity"]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{name} is the fraction of weights to prune, in [0, 1); got {value!r}.")
        if self.magnitude_threshold < 0:
            raise ValueError(f"magnitude_threshold must be >= 0, got {self.magnitude_threshold}.")
        self.global_parts = tuple(self.global_parts)
        unknown = [part for part in self.global_parts if part not in PARTS]
        if unknown or not self.global_parts:
            raise ValueError(f"global_parts must be a non-empty subset of {list(PARTS)}, "
                             f"got {list(self.global_parts)}.")
        if self.pruning_schedule == "gradual" and self.pruning_method != "top-v":
            raise ValueError("Gradual pruning follows a sparsity schedule, so it needs pruning_method='top-v'; "
                             f"got {self.pruning_method!r}.")
        if not 0.0 < self.gradual_end <= 1.0:
            raise ValueError(f"gradual_end is a fraction of training in (0, 1], got {self.gradual_end}.")
        if isinstance(self.gradual_every, bool) or not isinstance(self.gradual_every, int) or self.gradual_every < 1:
            raise ValueError(f"gradual_every must be a positive int, got {self.gradual_every!r}.")

    def target(self, part: str) -> float:
        """Local sparsity target of one part."""
        return getattr(self, f"sparsity_{part}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PruneConfig:
        return from_known_fields(cls, data)


THESIS_PRUNING = PruneConfig()


class PrunableTensor(NamedTuple):
    """One prunable weight: its part, its name in the model, and where it lives."""

    part: str
    name: str  # e.g. "encoder.rnn.weight_ih_l0"
    module: nn.Module
    attribute: str  # e.g. "weight_ih_l0"


def prunable_tensors(model: nn.Module) -> list[PrunableTensor]:
    """Every prunable weight matrix of a student, with its part (biases are never pruned).

    The embedding table's part is the embedding module's `kind` (hash, char or bpe); an embedding without
    one is left dense.
    """
    if not isinstance(model, StudentModel):
        raise TypeError(f"Expected a float student from build_student/load_student, got {type(model).__name__}.")
    tensors = []
    kind = getattr(model.embedding, "kind", None)
    if kind in EMBEDDING_TABLES:
        table = EMBEDDING_TABLES[kind]
        tensors.append(PrunableTensor(kind, f"embedding.{table}.weight", getattr(model.embedding, table), "weight"))
    if isinstance(model.encoder, RecurrentEncoder):
        rnn = model.encoder.rnn
        part = "lstm" if isinstance(rnn, nn.LSTM) else "rnn"
        for attribute in rnn._flat_weights_names:
            if attribute.startswith("weight"):
                tensors.append(PrunableTensor(part, f"encoder.rnn.{attribute}", rnn, attribute))
    for name, module in model.classifier.named_modules():
        if isinstance(module, nn.Linear):
            tensors.append(PrunableTensor("linear", f"classifier.{name}.weight", module, "weight"))
    return tensors


def _is_pruned(module: nn.Module, attribute: str) -> bool:
    return hasattr(module, attribute + "_mask")


def apply_pruning(model: nn.Module, config: PruneConfig | None = None, *,
                  fraction: float = 1.0) -> list[PrunableTensor]:
    """Add pruning masks in place (weight = weight_orig * weight_mask); return the tensors pruned.

    `fraction` scales every sparsity target (the gradual schedule uses it); magnitude ignores it.
    """
    config = config or THESIS_PRUNING
    tensors = prunable_tensors(model)
    if config.pruning_method == "magnitude":
        chosen = [t for t in tensors if t.part in config.global_parts]
        for t in chosen:
            MagnitudePruning.apply(t.module, t.attribute, config.magnitude_threshold)
    elif config.pruning_scope == "global":
        chosen = [t for t in tensors if t.part in config.global_parts]
        if chosen:
            torch_prune.global_unstructured([(t.module, t.attribute) for t in chosen], pruning_method=TopVPruning,
                                            amount=config.global_sparsity * fraction)
            _warn_emptied(chosen)
    else:
        chosen = [t for t in tensors if config.target(t.part) > 0]
        for t in chosen:
            TopVPruning.apply(t.module, t.attribute, config.target(t.part) * fraction)
    return chosen


EMPTIED = 0.95  # global top-V that prunes more of one tensor than this has all but removed a layer


def _warn_emptied(tensors: list[PrunableTensor]) -> None:
    """Warn about tensors that global top-V has all but emptied: layers of small weights (often the last
    classifier layer) lose everything when pooled with larger ones, and the student falls towards chance."""
    for t in tensors:
        mask = getattr(t.module, t.attribute + "_mask")
        pruned = 1.0 - float(mask.float().mean())
        if pruned > EMPTIED:
            logger.warning("Global top-V pruned %.0f%% of %s (%s): that layer is nearly gone. Prune locally "
                           "(--pruning-scope local) or leave its part out of --global-parts.", 100 * pruned,
                           t.name, t.part)


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its weight (no *_orig / *_mask left); returns the same model."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, torch_prune.BasePruningMethod):
                torch_prune.remove(module, hook._tensor_name)
    return model


def permanent_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with masks folded in (weight = orig * mask), without changing the model."""
    state = dict(model.state_dict())
    for key in [k for k in state if k.endswith("_orig")]:
        base = key[:-len("_orig")]
        if base + "_mask" in state:
            state[base] = state.pop(key) * state.pop(base + "_mask")
    return state


def prune(model: nn.Module, config: PruneConfig | None = None) -> nn.Module:
    """A pruned copy of a trained float student, masks already permanent (the input is left as it is)."""
    pruned = copy.deepcopy(model)
    apply_pruning(pruned, config)
    return make_permanent(pruned)


def sparsity_report(model: nn.Module) -> dict:
    """Fraction of zeros per part and overall, over the prunable weights of a (pruned) student."""
    zeros, sizes = {}, {}
    for t in prunable_tensors(model):
        weight = getattr(t.module, t.attribute).detach()
        zeros[t.part] = zeros.get(t.part, 0) + int((weight == 0).sum())
        sizes[t.part] = sizes.get(t.part, 0) + weight.numel()
    total = sum(sizes.values())
    return {"parts": {part: zeros[part] / sizes[part] for part in sizes},
            "overall": sum(zeros.values()) / total if total else 0.0}


def cubic_sparsity(step: int, total_steps: int, target: float, end: float = 0.85) -> float:
    """Zhu and Gupta's (2017) schedule from 0: target * (1 - (1 - step / (end * total_steps))^3), then target."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}.")
    progress = min(max(step / (end * total_steps), 0.0), 1.0)
    return target * (1.0 - (1.0 - progress) ** 3)


class GradualPruner:
    """Prunes a student while it trains: masks grow along the cubic schedule, reaching the target at
    `gradual_end` of training. Call `step()` after every optimizer step; masks sit in the forward
    pre-hooks, so weights stay zero where masked whatever the optimizer does to weight_orig.
    """

    def __init__(self, model: nn.Module, config: PruneConfig, total_steps: int):
        if config.pruning_method != "top-v":
            raise ValueError(f"Gradual pruning needs pruning_method='top-v', got {config.pruning_method!r}.")
        if total_steps < 1:
            raise ValueError(f"total_steps must be at least 1, got {total_steps}.")
        self.config, self.total_steps, self.steps, self.complete = config, total_steps, 0, False
        self.end_step = math.ceil(config.gradual_end * total_steps)
        self.tensors = apply_pruning(model, config, fraction=0.0)  # all-ones masks

    def fraction(self, step: int) -> float:
        """Scheduled fraction of the final sparsity at `step` (0 at the start, 1 from gradual_end on)."""
        return cubic_sparsity(step, self.total_steps, 1.0, self.config.gradual_end)

    @torch.no_grad()
    def update(self, fraction: float) -> None:
        """Set every mask to `fraction` of its target sparsity; pruned entries stay pruned."""
        config = self.config
        if config.pruning_scope == "global":
            weights = [getattr(t.module, t.attribute + "_orig") for t in self.tensors]
            masks = [getattr(t.module, t.attribute + "_mask") for t in self.tensors]
            flat = TopVPruning(config.global_sparsity * fraction).compute_mask(
                torch.cat([w.reshape(-1) for w in weights]), torch.cat([m.reshape(-1) for m in masks]))
            for mask, piece in zip(masks, torch.split(flat, [m.numel() for m in masks])):
                mask.copy_(piece.view_as(mask))
        else:
            for t in self.tensors:
                mask = getattr(t.module, t.attribute + "_mask")
                mask.copy_(TopVPruning(config.target(t.part) * fraction).compute_mask(
                    getattr(t.module, t.attribute + "_orig"), mask))
        for t in self.tensors:  # refresh the masked weights now, not only at the next forward
            orig, mask = getattr(t.module, t.attribute + "_orig"), getattr(t.module, t.attribute + "_mask")
            setattr(t.module, t.attribute, orig * mask)

    def step(self) -> None:
        """Advance one optimizer step; update the masks on schedule."""
        self.steps += 1
        if self.complete:
            return
        if self.steps >= self.end_step:
            self.update(1.0)
            self.complete = True
        elif self.steps % self.config.gradual_every == 0:
            self.update(self.fraction(self.steps))
