"""Tests for featherweight.students: pooling, padding, pairs, presets, parameter counts and errors."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from featherweight.students import (
    STUDENT_PRESETS,
    TRAINING_PRESETS,
    StudentConfig,
    build_student,
    parameter_groups,
    student_preset,
    training_preset,
)

VOCAB = 30
EMB_DIM = 6
HIDDEN = 8
COMBOS = [
    ("bilstm", "last"),
    ("bilstm", "max"),
    ("bilstm", "mean"),
    ("rnn", "last"),
    ("rnn", "max"),
    ("rnn", "mean"),
    ("ffn", "mean"),
    ("ffn", "max"),
]


class StandInEmbedding(nn.Module):
    """Stand-in for the real embedding: nn.Embedding on column 0 of ids (B, T, C) -> (B, T, D)."""

    def __init__(self, vocab: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab, dim, padding_idx=0)
        self.embedding_dim = dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids[..., 0])  # (B, T, D)


def make_ids(lengths: list[int], steps: int, seed: int, columns: int = 1) -> torch.Tensor:
    """Right-padded random ids (B, T, C) with the given real lengths."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (len(lengths), steps, columns), generator=gen)  # (B, T, C)
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


def tiny_model(arch: str, pooling: str, pair: bool = False, seed: int = 0, dim: int = EMB_DIM):
    """A seeded tiny student in eval mode."""
    torch.manual_seed(seed)
    hidden = 0 if arch == "ffn" else HIDDEN
    config = student_preset(arch, hidden_dim=hidden, classifier_dim=4, pooling=pooling)
    return build_student(config, StandInEmbedding(VOCAB, dim), num_labels=3, pair=pair).eval()


def pad_more(ids: torch.Tensor, extra: int) -> torch.Tensor:
    """Append `extra` padding steps to every row of ids (B, T, C)."""
    return F.pad(ids, (0, 0, 0, extra))  # (B, T + extra, C)


# --- pooling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["bilstm", "rnn"])
def test_last_pooling_is_the_true_final_state_of_each_direction(arch):
    """`last` = forward state after the last real token and backward state after reading the whole sentence reversed."""
    model = tiny_model(arch, "last")
    lengths = [5, 3, 1, 7]
    ids = make_ids(lengths, steps=7, seed=1)
    with torch.no_grad():
        pooled = model.encode(ids)  # (B, 2H)
        states = model.encoder.states(model.embedding(ids), ids[..., 0] != 0)  # (B, T, 2H)

    rnn = model.encoder.rnn
    cell = nn.LSTM if arch == "bilstm" else nn.RNN
    forward_rnn = cell(EMB_DIM, HIDDEN, batch_first=True)
    backward_rnn = cell(EMB_DIM, HIDDEN, batch_first=True)
    weights = rnn.state_dict()
    forward_rnn.load_state_dict({k: v for k, v in weights.items() if not k.endswith("_reverse")})
    backward_rnn.load_state_dict({k[: -len("_reverse")]: v for k, v in weights.items() if k.endswith("_reverse")})

    with torch.no_grad():
        for row, length in enumerate(lengths):
            x = model.embedding(ids[row : row + 1, :length])  # (1, L, D)
            forward_out, _ = forward_rnn(x)  # (1, L, H)
            backward_out, _ = backward_rnn(x.flip(1))  # (1, L, H)
            torch.testing.assert_close(pooled[row, :HIDDEN], forward_out[0, -1], rtol=0, atol=1e-6)
            torch.testing.assert_close(pooled[row, HIDDEN:], backward_out[0, -1], rtol=0, atol=1e-6)
            if length > 1:  # the thesis bug: the backward output at the last position has read one token only
                assert not torch.allclose(states[row, length - 1, HIDDEN:], backward_out[0, -1], atol=1e-4)


def test_max_and_mean_pooling_read_only_real_tokens():
    """`max` and `mean` equal the max and mean of the per-token states over real positions."""
    lengths = [4, 2]
    ids = make_ids(lengths, steps=6, seed=2)
    for pooling in ("max", "mean"):
        model = tiny_model("bilstm", pooling)
        with torch.no_grad():
            pooled = model.encode(ids)  # (B, 2H)
            states = model.encoder.states(model.embedding(ids), ids[..., 0] != 0)  # (B, T, 2H)
        for row, length in enumerate(lengths):
            real = states[row, :length]  # (L, 2H)
            expected = real.amax(dim=0) if pooling == "max" else real.mean(dim=0)
            torch.testing.assert_close(pooled[row], expected, rtol=0, atol=1e-6)


# --- padding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", [False, True])
@pytest.mark.parametrize("arch,pooling", COMBOS)
def test_extra_trailing_padding_leaves_logits_unchanged(arch, pooling, pair):
    """Adding padding steps at the end of every row changes no logit by more than 1e-6."""
    model = tiny_model(arch, pooling, pair=pair)
    ids = make_ids([4, 2, 5], steps=5, seed=3)
    ids_b = make_ids([1, 5, 3], steps=5, seed=4) if pair else None
    padded_b = pad_more(ids_b, 2) if pair else None
    with torch.no_grad():
        logits = model(ids, ids_b)
        padded = model(pad_more(ids, 3), padded_b)
    torch.testing.assert_close(padded, logits, rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch,pooling", COMBOS)
def test_batched_rows_match_rows_run_one_at_a_time(arch, pooling):
    """A batch mixing lengths gives each row the logits it gets alone, trimmed to its own length."""
    model = tiny_model(arch, pooling)
    lengths = [6, 1, 3, 0]
    ids = make_ids(lengths, steps=6, seed=5)
    with torch.no_grad():
        batched = model(ids)  # (B, L)
        alone = torch.cat([model(ids[row : row + 1, :length]) for row, length in enumerate(lengths)])
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch,pooling", COMBOS)
def test_empty_sentence_pools_to_zeros(arch, pooling):
    """A row of padding only encodes to zeros and leaves the other rows untouched."""
    model = tiny_model(arch, pooling)
    ids = make_ids([3, 0, 4], steps=4, seed=6)
    with torch.no_grad():
        encoded = model.encode(ids)  # (B, E)
        logits = model(ids)
        without_empty = model.encode(ids[[0, 2]])
    assert torch.equal(encoded[1], torch.zeros_like(encoded[1]))
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(encoded[[0, 2]], without_empty, rtol=0, atol=1e-6)


def test_all_empty_and_zero_length_batches_run():
    """A batch of empty sentences, or with no time steps at all, gives finite logits for every arch."""
    for arch, pooling in COMBOS:
        model = tiny_model(arch, pooling)
        with torch.no_grad():
            for ids in (torch.zeros(2, 3, 1, dtype=torch.long), torch.zeros(2, 0, 1, dtype=torch.long)):
                logits = model(ids)
                assert logits.shape == (2, 3)
                assert torch.isfinite(logits).all()
                torch.testing.assert_close(model.encode(ids), torch.zeros_like(model.encode(ids)))


def test_mask_comes_from_the_first_id_column():
    """With hash-style ids (C=4) the model matches the same ids reduced to column 0."""
    model = tiny_model("bilstm", "last")
    ids = make_ids([3, 5], steps=6, seed=7, columns=4)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(ids[..., :1]), rtol=0, atol=0)


# --- sentence pairs ------------------------------------------------------------------------------


def test_pair_classifier_input_is_u_v_absdiff_product():
    """Pair features are [u; v; |u-v|; u*v] and swapping the sentences swaps only the first two blocks."""
    model = tiny_model("bilstm", "last", pair=True)
    width = 2 * HIDDEN
    a = make_ids([4, 2], steps=4, seed=8)
    b = make_ids([3, 3], steps=5, seed=9)
    with torch.no_grad():
        u, v = model.encode(a), model.encode(b)  # (B, E)
        ab = model.features(a, b)  # (B, 4E)
        ba = model.features(b, a)
    assert ab.shape == (2, 4 * width)
    assert model.classifier.in_features == 4 * width
    assert model.classifier[1].in_features == 4 * width
    blocks = ab.split(width, dim=-1)
    swapped = ba.split(width, dim=-1)
    torch.testing.assert_close(blocks[0], u)
    torch.testing.assert_close(blocks[1], v)
    torch.testing.assert_close(blocks[2], (u - v).abs())
    torch.testing.assert_close(blocks[3], u * v)
    torch.testing.assert_close(swapped[0], blocks[1])
    torch.testing.assert_close(swapped[1], blocks[0])
    torch.testing.assert_close(swapped[2], blocks[2])
    torch.testing.assert_close(swapped[3], blocks[3])
    assert not torch.allclose(swapped[0], blocks[0])


def test_pair_model_requires_ids_b():
    """Calling a pair model without ids_b says how to call it."""
    model = tiny_model("rnn", "last", pair=True)
    with pytest.raises(ValueError, match="sentence-pair model; call it as model\\(ids, ids_b\\)"):
        model(make_ids([2], steps=2, seed=0))


def test_single_model_rejects_ids_b():
    """Passing ids_b to a single-sentence model is an error, not silently ignored."""
    model = tiny_model("ffn", "mean")
    ids = make_ids([2], steps=2, seed=0)
    with pytest.raises(ValueError, match="single-sentence model"):
        model(ids, ids)


def test_pair_rows_must_match():
    """ids and ids_b with different batch sizes are rejected with both sizes named."""
    model = tiny_model("bilstm", "max", pair=True)
    with pytest.raises(ValueError, match="got 2 and 1"):
        model(make_ids([2, 1], steps=2, seed=0), make_ids([2], steps=2, seed=1))


# --- input checks --------------------------------------------------------------------------------


def test_ids_without_column_axis_are_rejected():
    """2-D ids get an error that names the expected (B, T, C) shape and the fix."""
    model = tiny_model("bilstm", "last")
    with pytest.raises(ValueError, match=r"shape \(B, T, C\), got shape \(2, 3\).*unsqueeze"):
        model(torch.ones(2, 3, dtype=torch.long))


def test_left_padded_ids_are_rejected():
    """A real token after padding is reported as a right-padding violation."""
    model = tiny_model("rnn", "last")
    ids = torch.tensor([[[0], [5], [6]]])
    with pytest.raises(ValueError, match="right padding"):
        model(ids)


def test_float_ids_are_rejected():
    """Floating-point ids are a type error naming the dtype."""
    model = tiny_model("ffn", "mean")
    with pytest.raises(TypeError, match="torch.float32"):
        model(torch.ones(1, 2, 1))


def test_embedding_without_embedding_dim_is_rejected():
    """build_student needs `embedding.embedding_dim` and says so."""
    with pytest.raises(ValueError, match="embedding_dim"):
        build_student(student_preset("bilstm"), nn.Identity(), 2, False)


# --- presets and parameter counts ----------------------------------------------------------------


@pytest.mark.parametrize(
    "arch,pair,dim,encoder,classifier",
    [
        ("bilstm", False, 100, 302_400, 60_602),  # 2 * 4*150*(100+150+2); 300*200+200 + 200*2+2
        ("rnn", False, 100, 40_400, 20_302),  # 2 * 100*(100+100+2); 200*100+100 + 100*2+2
        ("ffn", False, 25, 0, 2_802),  # 25*100+100 + 100*2+2
        ("bilstm", True, 100, 964_800, 961_202),  # 2 * 4*300*(100+300+2); 2400*400+400 + 400*2+2
        ("rnn", True, 100, 120_800, 320_602),  # 2 * 200*(100+200+2); 1600*200+200 + 200*2+2
        ("ffn", True, 25, 0, 20_602),  # 100*200+200 + 200*2+2
    ],
)
def test_thesis_presets_have_the_thesis_parameter_counts(arch, pair, dim, encoder, classifier):
    """Preset parameter counts per part match the hand-computed thesis sizes and cover the whole model."""
    model = build_student(student_preset(arch, pair), StandInEmbedding(50, dim), num_labels=2, pair=pair)
    groups = parameter_groups(model)
    assert groups == {"embedding": 50 * dim, "encoder": encoder, "classifier": classifier}
    assert sum(groups.values()) == sum(p.numel() for p in model.parameters())


def test_presets_hold_the_thesis_values():
    """The single-sentence presets are Table 6.1: BiLSTM 150/200/0.1, RNN 100/100/0.1, FFN mean/100/0.2."""
    assert student_preset("bilstm") == StudentConfig("bilstm", 150, 200, 0.1, "last")
    assert student_preset("rnn") == StudentConfig("rnn", 100, 100, 0.1, "last")
    assert student_preset("ffn") == StudentConfig("ffn", 0, 100, 0.2, "mean")
    assert set(STUDENT_PRESETS) == {"bilstm", "rnn", "ffn"}


def test_pair_presets_double_encoder_and_classifier():
    """pair=True doubles hidden_dim and classifier_dim and keeps the rest."""
    assert student_preset("bilstm", pair=True) == StudentConfig("bilstm", 300, 400, 0.1, "last")
    assert student_preset("rnn", pair=True) == StudentConfig("rnn", 200, 200, 0.1, "last")
    assert student_preset("ffn", pair=True) == StudentConfig("ffn", 0, 200, 0.2, "mean")


def test_preset_overrides_replace_fields():
    """Overrides win over preset values, after the pair doubling."""
    config = student_preset("rnn", pair=True, hidden_dim=7, pooling="max")
    assert (config.hidden_dim, config.classifier_dim, config.pooling) == (7, 200, "max")
    with pytest.raises(ValueError, match="Unknown StudentConfig field.*hiden_dim"):
        student_preset("rnn", hiden_dim=7)


def test_linear_classifier_when_classifier_dim_is_zero():
    """classifier_dim=0 gives a single linear layer from features to labels."""
    torch.manual_seed(0)
    model = build_student(student_preset("ffn", classifier_dim=0), StandInEmbedding(VOCAB, 5), 2, False)
    assert [type(m) for m in model.classifier] == [nn.Dropout, nn.Linear]
    assert parameter_groups(model)["classifier"] == 5 * 2 + 2


def test_training_presets_hold_the_thesis_optimisers():
    """BiLSTM uses AdaDelta 1.0, RNN Adam 1e-4 with decay 1e-5, FFN Adam 1e-4; batch 50, 256 for pairs."""
    assert training_preset("bilstm") == {"optimizer": "adadelta", "lr": 1.0, "weight_decay": 0.0, "batch_size": 50}
    assert training_preset("rnn", pair=True) == {
        "optimizer": "adam",
        "lr": 1e-4,
        "weight_decay": 1e-5,
        "batch_size": 256,
    }
    assert training_preset("ffn") == {"optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "batch_size": 50}
    assert set(TRAINING_PRESETS) == set(STUDENT_PRESETS)
    with pytest.raises(TypeError):
        TRAINING_PRESETS["rnn"]["lr"] = 1.0  # read-only: no shared mutable state


# --- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["bilstm", "rnn", "ffn"])
@pytest.mark.parametrize("pair", [False, True])
def test_config_round_trips_through_json(arch, pair):
    """to_dict -> JSON -> from_dict rebuilds an equal config."""
    config = student_preset(arch, pair)
    assert StudentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_rebuilt_model_gives_the_same_logits():
    """A model rebuilt from its saved config and state_dict reproduces the logits."""
    model = tiny_model("rnn", "mean", pair=True)
    config = StudentConfig.from_dict(json.loads(json.dumps(model.config.to_dict())))
    rebuilt = build_student(config, StandInEmbedding(VOCAB, EMB_DIM), 3, True).eval()
    rebuilt.load_state_dict(model.state_dict())
    a, b = make_ids([3, 1], steps=3, seed=10), make_ids([2, 2], steps=2, seed=11)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(a, b), model(a, b), rtol=0, atol=0)


def test_from_dict_rejects_unknown_fields():
    """An unknown saved field is an error naming it, not silently dropped."""
    with pytest.raises(ValueError, match="Unknown StudentConfig field.*'layers'"):
        StudentConfig.from_dict({"arch": "bilstm", "layers": 2})


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"arch": "gru"}, "Unknown student arch 'gru'"),
        ({"arch": "ffn", "hidden_dim": 0, "pooling": "last"}, "Unknown pooling 'last' for arch 'ffn'"),
        ({"arch": "ffn", "hidden_dim": 100, "pooling": "mean"}, "hidden_dim must be 0"),
        ({"hidden_dim": 0}, "needs hidden_dim >= 1"),
        ({"classifier_dim": -1}, "classifier_dim must be a non-negative int"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"pooling": "first"}, "Unknown pooling 'first'"),
    ],
)
def test_invalid_configs_are_rejected_with_a_clear_message(fields, message):
    """Each invalid field value raises a ValueError that names it."""
    with pytest.raises(ValueError, match=message):
        StudentConfig(**fields)


# --- training ------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch,pooling", [("bilstm", "last"), ("rnn", "max"), ("ffn", "mean")])
def test_backward_reaches_every_parameter(arch, pooling):
    """One training step on a padded batch gives every parameter a finite, non-zero gradient."""
    model = tiny_model(arch, pooling).train()
    ids = make_ids([4, 1, 0], steps=5, seed=12)
    loss = F.cross_entropy(model(ids), torch.tensor([0, 1, 2]))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_dropout_rate_comes_from_the_config():
    """Every dropout layer in the classifier uses config.dropout."""
    torch.manual_seed(0)
    model = build_student(student_preset("ffn", dropout=0.3), StandInEmbedding(VOCAB, 4), 2, False)
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert rates == [0.3, 0.3]
