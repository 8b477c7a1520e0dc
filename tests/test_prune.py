"""Pruning: top-V and magnitude methods, local targets and global ranking, permanent masks, gradual schedule."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from featherweight.artifact import WEIGHTS_FILE, load_student, predict_data, save_student
from featherweight.data import DataConfig, load_splits
from featherweight.compression.prune import (TABLE_6_3, GradualPruner, MagnitudePruning, PruneConfig, TopVPruning, apply_pruning,
                                 cubic_sparsity, prunable_tensors, prune, sparsity_report)
from conftest import tiny_student


pytestmark = pytest.mark.usefixtures("one_thread")


def _zeros(tensor: torch.Tensor) -> int:
    return int((tensor == 0).sum())


def test_top_v_keeps_exactly_the_top_fraction_by_magnitude():
    """TopVPruning(0.3) zeroes the 30% smallest magnitudes and keeps the rest untouched."""
    linear = torch.nn.Linear(10, 10)
    with torch.no_grad():
        linear.weight.copy_(torch.randperm(100).float().sub(50).reshape(10, 10))  # distinct magnitudes but +-
    original = linear.weight.detach().clone()
    TopVPruning.apply(linear, "weight", 0.3)
    kept = linear.weight != 0
    assert int((~kept).sum()) == 30
    assert original.abs()[kept].min() >= original.abs()[~kept].max()
    assert torch.equal(linear.weight[kept], original[kept])


def test_magnitude_prunes_every_weight_at_or_below_the_threshold():
    """MagnitudePruning(t) zeroes exactly the weights with |w| <= t, whatever fraction that is."""
    linear = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.05, -0.2, 0.1, -0.01], [0.3, -0.1, 0.0, 2.0]]))
    MagnitudePruning.apply(linear, "weight", 0.1)
    assert torch.equal(linear.weight != 0, torch.tensor([[False, True, False, False], [True, False, False, True]]))


def test_default_local_targets_are_the_thesis_table_6_3():
    """Defaults: LSTM 50%, RNN 10%, Linear 12.5%, hash 0%, char 30%, BPE 40%, local top-V, one-shot."""
    config = PruneConfig()
    assert TABLE_6_3 == {"lstm": 0.5, "rnn": 0.1, "linear": 0.125, "hash": 0.0, "char": 0.3, "bpe": 0.4}
    assert {part: config.target(part) for part in TABLE_6_3} == TABLE_6_3
    assert (config.pruning_method, config.pruning_scope, config.pruning_schedule) == ("top-v", "local", "one-shot")


@pytest.mark.parametrize("arch,embedding", [("bilstm", "char"), ("rnn", "bpe"), ("ffn", "hash")])
def test_local_pruning_hits_every_tensors_part_target(arch, embedding, tmp_path):
    """Each prunable tensor ends at its part's sparsity (rounded to whole weights); hash stays dense."""
    model, _, _ = tiny_student(arch, embedding, tmp_path)
    config = PruneConfig(sparsity_linear=0.25)  # an override next to the defaults
    pruned = prune(model, config)
    for tensor in prunable_tensors(pruned):
        weight = getattr(tensor.module, tensor.attribute)
        original = model.get_parameter(tensor.name)
        expected = max(round(config.target(tensor.part) * weight.numel()), _zeros(original))
        assert _zeros(weight) == expected, tensor.name
    assert all(_zeros(p) == 0 for name, p in pruned.named_parameters() if "bias" in name and "classifier" in name)


def test_global_pruning_ranks_every_pooled_weight_together(tmp_path):
    """Global top-V prunes the smallest 40% of all pooled weights at one threshold, across tensors."""
    model, _, _ = tiny_student("bilstm", "char", tmp_path)
    config = PruneConfig(pruning_scope="global", global_sparsity=0.4, global_parts=("lstm", "linear"))
    pruned = prune(model, config)
    pooled = [t for t in prunable_tensors(pruned) if t.part in ("lstm", "linear")]
    after = torch.cat([getattr(t.module, t.attribute).reshape(-1) for t in pooled])
    before = torch.cat([model.get_parameter(t.name).reshape(-1) for t in pooled])
    assert _zeros(after) == round(0.4 * after.numel())
    assert before.abs()[after != 0].min() >= before.abs()[after == 0].max()
    assert sparsity_report(pruned)["parts"]["char"] == sparsity_report(model)["parts"]["char"]


def test_saved_pruned_student_has_permanent_masks(tmp_path, glue_dir):
    """A student saved with live masks has no *_orig / *_mask tensors, and reloads with its zeros and logits."""
    model, tokenizer, meta = tiny_student("bilstm", "hash", tmp_path)
    apply_pruning(model, PruneConfig())  # masks still live (weight = weight_orig * weight_mask)
    assert any(name.endswith("_mask") for name in model.state_dict())
    save_student(tmp_path / "s", model, tokenizer, meta)
    keys = load_file(tmp_path / "s" / WEIGHTS_FILE).keys()
    assert not [k for k in keys if k.endswith(("_orig", "_mask"))]
    loaded = load_student(tmp_path / "s")
    assert sparsity_report(loaded.model)["parts"]["lstm"] == 0.5
    dev = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir)))["dev"]
    from featherweight.artifact import Student

    assert np.array_equal(predict_data(loaded, dev), predict_data(Student(model, tokenizer, meta), dev))


def test_cubic_schedule_starts_at_zero_and_reaches_the_target_at_85_percent():
    """s(t) = s_f (1 - (1 - t / (0.85 T))^3): 0 at the start, s_f from 85% of training on, rising fastest early."""
    values = [cubic_sparsity(step, 100, 0.5) for step in range(101)]
    assert values[0] == 0.0 and values[85] == pytest.approx(0.5) and values[100] == 0.5
    assert values[42] == pytest.approx(0.5 * (1 - (1 - 42 / 85) ** 3))
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[20] - values[10] > values[80] - values[70]


def test_gradual_masks_stay_zero_through_optimizer_steps(tmp_path):
    """Pruned weights stay zero after Adam steps with weight decay, masks only grow, the target is met at 85%."""
    model, tokenizer, _ = tiny_student("bilstm", "char", tmp_path)
    model.train()
    pruner = GradualPruner(model, PruneConfig(gradual_every=1), total_steps=20)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, weight_decay=0.1)
    from conftest import padded_ids

    ids = padded_ids(tokenizer, ["a very good film", "bad"])
    lstm = model.encoder.rnn
    previous = torch.ones_like(lstm.weight_hh_l0_mask)
    for step in range(1, 21):
        loss = model(ids).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pruner.step()
        mask = lstm.weight_hh_l0_mask
        assert bool((mask <= previous).all())  # once pruned, pruned for good
        model(ids)  # the forward pre-hook recomputes weight = weight_orig * mask
        assert bool((lstm.weight_hh_l0[mask == 0] == 0).all())
        expected = 0.5 if step >= 17 else 0.5 * cubic_sparsity(step, 20, 1.0)
        assert _zeros(mask) == round(expected * mask.numel()), step
        assert pruner.complete == (step >= 17)
        previous = mask.clone()


def test_gradual_pruning_in_distillation_reaches_the_target(glue_dir, tmp_path):
    """distill() with a GradualPruner trains a student whose saved weights meet every part's target."""
    from featherweight.compression.distill import DistillConfig, distill

    config = DistillConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1), alpha=1.0,
                           student_arch="rnn", embedding_type="char", embedding_dim=8, hidden_dim=8,
                           classifier_dim=8, batch_size=16, epochs=2, progress=False, work_dir=str(tmp_path / "w"),
                           output_dir=str(tmp_path / "s"))
    pruning = PruneConfig(pruning_schedule="gradual", sparsity_rnn=0.5, gradual_every=3)
    pruners = []
    summary = distill(config, pruner_factory=lambda model, steps: pruners.append(
        GradualPruner(model, pruning, steps)) or pruners[-1])
    assert pruners[0].total_steps == 2 * 12 and pruners[0].complete
    student = load_student(summary["output_dir"])
    report = sparsity_report(student.model)["parts"]
    assert report["rnn"] == pytest.approx(0.5, abs=0.01) and report["char"] == pytest.approx(0.3, abs=0.01)
    assert report["linear"] == pytest.approx(0.125, abs=0.02)


def test_bad_pruning_settings_are_clear_errors():
    """Out-of-range targets and gradual magnitude pruning are refused with the fix."""
    with pytest.raises(ValueError, match=r"sparsity_lstm is the fraction of weights to prune, in \[0, 1\); got 1.5"):
        PruneConfig(sparsity_lstm=1.5)
    with pytest.raises(ValueError, match="Gradual pruning .* needs pruning_method='top-v'"):
        PruneConfig(pruning_schedule="gradual", pruning_method="magnitude")
    with pytest.raises(ValueError, match=r"global_parts must be a non-empty subset"):
        PruneConfig(global_parts=("lstm", "attention"))


@pytest.mark.parametrize("embedding, table", [("hash", "components"), ("char", "table"), ("bpe", "table")])
def test_the_embedding_table_is_pruned_as_the_part_its_module_names(embedding, table, tmp_path):
    """The embedding module's kind picks the part (and so the target) of its table; no type is passed in."""
    model, _, _ = tiny_student("ffn", embedding, tmp_path)
    assert model.embedding.kind == embedding
    (tensor,) = [t for t in prunable_tensors(model) if t.name.startswith("embedding.")]
    assert (tensor.part, tensor.name) == (embedding, f"embedding.{table}.weight")
    config = PruneConfig(sparsity_hash=0.2)
    weight = prune(model, config).get_parameter(tensor.name)
    assert _zeros(weight) == round(config.target(embedding) * weight.numel())


def test_a_leftover_embedding_type_argument_is_refused_not_misread(tmp_path):
    """The part of an embedding table comes from the model alone: a leftover embedding_type argument is refused
    rather than read as the next parameter."""
    model, _, _ = tiny_student("ffn", "char", tmp_path)
    with pytest.raises(TypeError):
        apply_pruning(model, PruneConfig(), "char")
    with pytest.raises(TypeError):
        sparsity_report(model, "char")


def test_global_pruning_warns_when_it_all_but_empties_a_layer(tmp_path, caplog):
    """Pooled with larger weights, a layer of tiny weights loses nearly all of them: the user is told which."""
    model, _, _ = tiny_student("ffn", "hash", tmp_path)
    with torch.no_grad():
        model.classifier[-1].weight.mul_(1e-4)  # the last layer's weights far below the others
    config = PruneConfig(pruning_scope="global", global_sparsity=0.5, global_parts=("linear",))
    with caplog.at_level("WARNING", logger="featherweight.compression.prune"):
        prune(model, config)
    assert f"of {prunable_tensors(model)[-1].name} (linear): that layer is nearly gone" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="featherweight.compression.prune"):
        prune(tiny_student("ffn", "hash", tmp_path)[0], config)
    assert "nearly gone" not in caplog.text
