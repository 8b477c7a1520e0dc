"""TinyBERT-style augmentation: candidate words, GloVe and masked-LM candidates, sampling, label distributions."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import ANIMALS, NEGATIVE, POSITIVE, build_tiny_glove, build_tiny_mlm


@pytest.fixture(scope="module")
def glove_dir(tmp_path_factory) -> Path:
    return build_tiny_glove(tmp_path_factory.mktemp("glove"))


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory) -> Path:
    return build_tiny_mlm(tmp_path_factory.mktemp("mlm"))


@pytest.fixture(scope="module")
def glove_table(glove_dir):
    from featherweight.augment import load_glove

    return load_glove(str(glove_dir))


@pytest.fixture(scope="module")
def mlm(mlm_dir):
    from featherweight.augment import MaskedLM

    return MaskedLM.load(str(mlm_dir), k=6, batch_size=3)


SENTENCES = ["the film is good and the zebra was funny", "A dull, boring movie", "great acting", "the", "zebra"]


def test_candidate_words_skip_stopwords_punctuation_and_numbers():
    """Only alphabetic non-stopwords are candidates, with their exact character spans."""
    from featherweight.augment.words import candidate_words

    text = "The film, isn't 2 good!"
    words = candidate_words(text)
    assert [w.text for w in words] == ["film", "good"]
    assert all(text[w.start:w.end] == w.text for w in words)


def test_glove_neighbours_are_the_nearest_by_cosine_without_the_word_or_punctuation(glove_table):
    """GloVe candidates are the top-K cosine neighbours minus the word itself, numbers and punctuation."""
    from featherweight.augment import GloveNeighbours

    unit = glove_table.vectors / np.linalg.norm(glove_table.vectors, axis=1, keepdims=True)
    neighbours = GloveNeighbours(glove_table, k=4).lookup(["good", "Zebra", "unknownword"])
    row = glove_table.words.index("good")
    expected = [glove_table.words[i] for i in np.argsort(-(unit @ unit[row]))[1:5]]
    assert expected[0] == ","  # the decoy is the nearest row ...
    assert neighbours["good"] == tuple(w for w in expected if w != ",")  # ... and is filtered out
    assert set(neighbours["Zebra"]) <= set(ANIMALS) - {"zebra"} and "42" not in neighbours["Zebra"]
    assert neighbours["unknownword"] == ()


def test_glove_lookup_does_not_depend_on_which_words_are_looked_up_together(glove_table):
    """A word's neighbours are the same looked up alone or in a block with others."""
    from featherweight.augment import GloveNeighbours

    words = POSITIVE + NEGATIVE + ANIMALS
    together = GloveNeighbours(glove_table, k=5, block=4).lookup(words)
    assert all(GloveNeighbours(glove_table, k=5).lookup([w])[w] == together[w] for w in words)


def test_masked_lm_candidates_drop_fragments_punctuation_specials_and_the_word(mlm_dir):
    """Top-K pieces that are '##' fragments, punctuation, special tokens or the word itself are filtered out."""
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    from featherweight.augment import MaskedLM
    from featherweight.augment.words import candidate_words

    tokenizer = AutoTokenizer.from_pretrained(mlm_dir)
    model = BertForMaskedLM.from_pretrained(mlm_dir)
    favoured = ["##a", ",", "[UNK]", "good", "superb", "7", "great"]
    with torch.no_grad():  # make these the top 7 predictions at every position
        for rank, token in enumerate(favoured):
            model.cls.predictions.bias[tokenizer.convert_tokens_to_ids(token)] = 100.0 - rank
    text = "a good film"
    found = MaskedLM(model, tokenizer, k=7).candidates([text], [candidate_words(text)])
    assert found == [{0: ("superb", "great"), 1: ("good", "superb", "great")}]  # "film" keeps "good"


def test_single_piece_words_use_the_masked_lm_and_split_words_use_glove(glove_table, mlm):
    """A word the MLM tokenizer keeps whole gets MLM candidates; a word it splits gets GloVe neighbours."""
    from featherweight.augment import GloveNeighbours, find_candidates

    counts = Counter()
    glove = GloveNeighbours(glove_table, k=6)
    slots = find_candidates(["the zebra was funny"], glove, mlm, counts)["the zebra was funny"]
    assert [s.word for s in slots] == ["zebra", "funny"]
    assert slots[0].candidates == glove.lookup(["zebra"])["zebra"]
    assert counts["mlm_words"] == 1 and counts["glove_words"] == 1 and counts["mlm_sequences"] == 1


def test_head_at_masked_positions_equals_the_whole_model(mlm):
    """Applying the LM head only at masked positions gives the same top K as the whole model."""
    sequences = [[2, 10, 11, 12, 3], [2, 13, 3]]
    fast = mlm._top_k(sequences, [[2, 4], [1]])
    split, mlm._split = mlm._split, None
    try:
        slow = mlm._top_k(sequences, [[2, 4], [1]])
    finally:
        mlm._split = split
    assert split is not None and fast.shape == (3, 6) and np.array_equal(fast, slow)


def test_bfloat16_precision_rounds_the_encoder_and_keeps_its_predictions(mlm):
    """precision="bfloat16" runs the same masked LM under bf16 autocast: scores move a little, top pieces stay."""
    import torch

    from featherweight.augment import MaskedLM

    sequences, positions = [[2, 10, 11, 12, 3], [2, 13, 14, 3]], [[2, 4], [1]]
    exact = mlm._scores(sequences, positions)
    rounded = MaskedLM(mlm.model, mlm.tokenizer, k=6, precision="bfloat16")._scores(sequences, positions)
    assert rounded.dtype == torch.float32 and not torch.equal(rounded, exact)
    assert (rounded - exact).abs().max() < 0.05 * exact.abs().max()
    assert torch.equal(rounded.argmax(-1), exact.argmax(-1))
    with pytest.raises(ValueError, match=r"precision must be one of \['float32', 'bfloat16'\]"):
        MaskedLM(mlm.model, mlm.tokenizer, k=6, precision="float16")


def test_mask_group_masks_several_words_per_copy(mlm):
    """With mask_group G, a text's single-piece words share ceil(words / G) masked copies and all get candidates."""
    from featherweight.augment import MaskedLM
    from featherweight.augment.words import candidate_words

    text = "good great fine lovely superb"
    grouped = MaskedLM(mlm.model, mlm.tokenizer, k=6, mask_group=2)
    counts = Counter()
    found = grouped.candidates([text], [candidate_words(text)], counts)
    assert counts["mlm_sequences"] == 3 and sorted(found[0]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("with_mlm", [True, False])
def test_batched_candidates_equal_the_per_word_method(glove_table, mlm, with_mlm):
    """Batched candidate search finds exactly what one masked-LM pass (or GloVe scan) per word finds."""
    from featherweight.augment import GloveNeighbours, PerWordCandidates, find_candidates

    texts = SENTENCES + ["Good, charming and moving", "awful plot"]
    batched = find_candidates(texts, GloveNeighbours(glove_table, k=6), mlm if with_mlm else None)
    per_word = PerWordCandidates(glove_table, 6, *((mlm.model, mlm.tokenizer) if with_mlm else ())).find(texts)
    assert batched == per_word
    assert batched["Good, charming and moving"][0].candidates[0][0].isupper()  # case follows the word


def test_words_are_replaced_with_probability_p_by_uniform_candidates():
    """Each candidate is replaced in a share p of draws, by each of its candidates about equally often."""
    from featherweight.augment.sample import Slot, draw_variants

    text = "a b c d e"
    slots = [Slot(i, i + 1, text[i], ("x", "y", "z")) for i in range(0, 9, 2)]
    variants = draw_variants((text,), (slots,), samples=4000, p=0.3, rng=np.random.default_rng(0))
    words = np.array([v[0].split() for v in variants])  # (N, 5)
    assert abs((words != np.array(text.split())).mean() - 0.3) < 0.02
    share = Counter(words[words != np.array(text.split())].tolist())
    assert all(abs(share[c] / sum(share.values()) - 1 / 3) < 0.03 for c in "xyz")


def test_pairs_rewrite_one_side_at_a_time_and_keep_the_other_original():
    """In a pair, each variant changes one side only, the sides take turns, and a side without candidates is left alone."""
    from featherweight.augment.sample import Slot, draw_variants

    texts = ("good film", "bad plot")
    slots = ([Slot(0, 4, "good", ("great",))], [Slot(0, 3, "bad", ("awful",))])
    variants = draw_variants(texts, slots, samples=40, p=1.0, rng=np.random.default_rng(0))
    assert variants[0] == ("great film", "bad plot") and variants[1] == ("good film", "awful plot")
    assert all((a == texts[0]) != (b == texts[1]) for a, b in variants)
    one_sided = draw_variants(texts, (slots[0], []), samples=5, p=1.0, rng=np.random.default_rng(0))
    assert set(one_sided) == {("great film", "bad plot")}


def test_unchanged_and_duplicate_variants_are_dropped():
    """Draws equal to their row, to an earlier draw, or to another original row are not written."""
    from featherweight.augment import Slot, augment_rows
    from featherweight.augment.sample import row_digest

    rows = [("good film",), ("great film",), ("dull film",)]
    slots = {"good film": [Slot(0, 4, "good", ("great", "fine"))], "great film": [], "dull film": []}
    counts = Counter()
    seen = {row_digest(r) for r in rows}
    kept = augment_rows(rows, [1, 2, 3], slots, samples=50, p=0.5, seed=0, seen=seen, counts=counts)
    assert kept == [(0, ("fine film",))]  # "great film" is already an original row
    assert counts["drawn"] == 50 and counts["unchanged"] > 0 and counts["duplicates"] > 0
    assert counts["unchanged"] + counts["duplicates"] + len(kept) == 50


def test_variants_are_deterministic_per_row_and_seed():
    """A row's variants depend only on the seed and its key, not on the other rows."""
    from featherweight.augment import Slot, augment_rows

    slots = {t: [Slot(0, 4, t[:4], ("aaaa", "bbbb", "cccc")), Slot(5, 9, t[5:], ("dddd", "eeee"))]
             for t in ("good film", "dull plot")}
    both = augment_rows([("good film",), ("dull plot",)], [7, 9], slots, samples=6, p=0.5, seed=3)
    alone = augment_rows([("dull plot",)], [9], slots, samples=6, p=0.5, seed=3)
    assert [v for n, v in both if n == 1] == [v for _, v in alone]
    assert augment_rows([("dull plot",)], [9], slots, samples=6, p=0.5, seed=4) != alone


def test_keep_fraction_keeps_a_seeded_share():
    """keep_fraction keeps about that share of the distinct variants."""
    from featherweight.augment import Slot, augment_rows

    text = "a b c d e f g h"
    slots = {text: [Slot(i, i + 1, text[i], ("x", "y", "z", "w")) for i in range(0, 15, 2)]}
    counts = Counter()
    kept = augment_rows([(text,)], [1], slots, samples=2000, p=0.5, seed=0, keep_fraction=0.25, counts=counts)
    assert abs(len(kept) / (len(kept) + counts["not_kept"]) - 0.25) < 0.03


def test_label_distributions_compare_original_labels_with_teacher_argmax():
    """Original gold labels and the argmax of the augmented rows' soft targets give two distributions."""
    from featherweight.augment import label_distributions
    from featherweight.teacher.soft_targets import SoftTargets

    logits = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]], np.float32)
    targets = SoftTargets(logits, np.arange(2, 6), {})
    result = label_distributions(np.array([0, 1, 2]), targets, "mnli", augmented_source_labels=[0, 1, 1, 1])
    assert result["labels"] == ["entailment", "neutral", "contradiction"]
    assert result["original"]["fractions"] == {"entailment": 1 / 3, "neutral": 1 / 3, "contradiction": 1 / 3}
    assert result["augmented"]["counts"] == {"entailment": 2, "neutral": 1, "contradiction": 1}
    assert result["augmented_teacher_agrees_with_source_label"] == 0.5
    assert label_distributions([1, 1], logits[:, :2], "sst-2")["augmented"]["rows"] == 4


def test_label_distributions_reject_logits_of_another_task():
    """Logits with the wrong number of columns are refused with the expected shape."""
    from featherweight.augment import label_distributions

    with pytest.raises(ValueError, match=r"shape \(rows, 2\)"):
        label_distributions(np.array([0, 1]), np.zeros((3, 3)), "sst-2")


def test_a_model_without_a_trained_mlm_head_is_refused(tmp_path):
    """Loading an encoder without an MLM head (like the MiniLM teacher) as the masked LM is an error."""
    from transformers import BertConfig, BertModel

    from featherweight.augment import MaskedLM

    BertModel(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="no trained masked-LM head"):
        MaskedLM.load(str(tmp_path), k=3)
