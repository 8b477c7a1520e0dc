"""fairseq RoBERTa teachers: a tiny fairseq classifier, saved as fairseq saves it, converted and loaded."""
from __future__ import annotations

import argparse
import builtins
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fairseq")

import torch  # noqa: E402

from featherweight.data.tasks import get_task  # noqa: E402
from featherweight.teacher.model import TEACHER_INFO, load_teacher, predict_logits  # noqa: E402
from featherweight.teacher.fairseq import (fairseq_teacher_directory, label_names,  # noqa: E402
                                           mapped_state_dict)

FAIRSEQ_ORDER = ["contradiction", "neutral", "entailment"]  # the order fairseq's MNLI head predicts in
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "f"), ("i", "l"), ("Ġf", "il"), ("Ġfil", "m"),
          ("o", "o"), ("g", "oo"), ("goo", "d"), ("Ġ", "w"), ("a", "s"), ("Ġw", "as")]
PAIRS = [("the film was good", "the film was bad"), ("A man plays.", "Nobody plays!"),
         ("goodgood the", "the the the"), ("naïve café", "3.14 is π"), ("film", "the good film was good")]


def write_bpe_files(folder: Path) -> dict[str, int]:
    """A tiny GPT-2 BPE: the 256 byte symbols plus a few merges; returns encoder.json's mapping."""
    from fairseq.data.encoders.gpt2_bpe_utils import bytes_to_unicode

    tokens = list(bytes_to_unicode().values()) + ["".join(pair) for pair in MERGES]
    encoder = {token: gpt2_id for gpt2_id, token in enumerate(tokens)}
    (folder / "encoder.json").write_text(json.dumps(encoder), encoding="utf-8")
    (folder / "vocab.bpe").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES), encoding="utf-8")
    return encoder


def write_data_bin(folder: Path, encoder: dict[str, int]) -> Path:
    """What fairseq-preprocess writes for a sentence-prediction task: input0/dict.txt and label/dict.txt."""
    gpt2_ids = list(encoder.values())
    random.Random(0).shuffle(gpt2_ids)  # fairseq's indices are not GPT-2's ids
    (folder / "input0").mkdir(parents=True)
    (folder / "label").mkdir()
    lines = [f"{gpt2_id} {1000 - rank}" for rank, gpt2_id in enumerate(gpt2_ids)] + ["madeupword0000 0"]
    (folder / "input0" / "dict.txt").write_text("\n".join(lines) + "\n")
    counts = "".join(f"{name} {30 - 10 * i}\n" for i, name in enumerate(FAIRSEQ_ORDER))  # most frequent first
    (folder / "label" / "dict.txt").write_text(counts + "madeupword0000 0\n")  # padding to a multiple of 8
    return folder


def save_like_fairseq(weights: dict, cfg, path: Path, extra_state: dict | None = None) -> None:
    """The checkpoint dict fairseq's Trainer.state_dict() saves (cfg as a container, model state, history)."""
    from fairseq import checkpoint_utils
    from omegaconf import OmegaConf

    state = {"args": None, "cfg": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
             "model": weights, "criterion": None,
             "optimizer_history": [{"criterion_name": "SentencePredictionCriterion", "optimizer_name": "Adam",
                                    "lr_scheduler_state": {}, "num_updates": 0}],
             "task_state": {}, "extra_state": extra_state or {"val_loss": 0.5}, "last_optimizer_state": None}
    checkpoint_utils.torch_persistent_save(state, str(path))


def save_like_fairseq_0_9(weights: dict, cfg, path: Path) -> None:
    """A checkpoint as fairseq 0.9 (2019, the RoBERTa releases) saved it: argparse args, old tensor names."""
    from fairseq import checkpoint_utils

    renamed = {name.replace("encoder.", "decoder.", 1).replace(".layernorm_embedding.", ".emb_layer_norm."): tensor
               for name, tensor in weights.items()}
    state = {"args": argparse.Namespace(**vars(cfg.model)), "model": renamed,
             "optimizer_history": [{"criterion_name": "SentencePredictionCriterion", "optimizer_name": "FairseqAdam",
                                    "lr_scheduler_state": {"best": np.float64(0.5)}, "num_updates": 10}],
             "extra_state": {"train_iterator": {"epoch": 2, "iterations_in_epoch": 0}, "val_loss": np.float64(0.5)},
             "last_optimizer_state": None}
    checkpoint_utils.torch_persistent_save(state, str(path))


def build_fairseq_classifier(root: Path, head: str = "mnli_head"):
    """A random 2-layer fairseq RoBERTa with a 3-class head, trained-data layout and all; returns (model, cfg)."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    encoder = write_bpe_files(root)
    data = write_data_bin(root / "data-bin", encoder)
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, input_args=[
        str(data), "--task", "sentence_prediction", "--arch", "roberta", "--criterion", "sentence_prediction",
        "--classification-head-name", head, "--num-classes", "3", "--encoder-layers", "2",
        "--encoder-embed-dim", "16", "--encoder-ffn-embed-dim", "32", "--encoder-attention-heads", "2",
        "--max-positions", "64", "--cpu"])
    cfg = convert_namespace_to_omegaconf(args)
    torch.manual_seed(0)
    model = tasks.setup_task(cfg.task).build_model(cfg.model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
    return model, cfg


def checkpoint_folder(root: Path, model, cfg, name: str = "ckpt", label_dict: bool = True,
                      save=save_like_fairseq, weights: dict | None = None) -> Path:
    """A folder as a user hands it over: model.pt, dict.txt, encoder.json, vocab.bpe (and label/dict.txt)."""
    folder = root / name
    folder.mkdir()
    save(model.state_dict() if weights is None else weights, cfg, folder / "model.pt")
    shutil.copy(root / "data-bin" / "input0" / "dict.txt", folder / "dict.txt")
    for file in ("encoder.json", "vocab.bpe"):
        shutil.copy(root / file, folder / file)
    if label_dict:
        (folder / "label").mkdir()
        shutil.copy(root / "data-bin" / "label" / "dict.txt", folder / "label" / "dict.txt")
    return folder


@pytest.fixture(scope="module")
def fairseq_teacher(tmp_path_factory):
    """(root, checkpoint folder, fairseq model, cfg) of a tiny fairseq MNLI-style classifier."""
    root = tmp_path_factory.mktemp("fairseq")
    model, cfg = build_fairseq_classifier(root)
    return root, checkpoint_folder(root, model, cfg), model, cfg


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATHERWEIGHT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fairseq_logits(folder: Path, data: Path, head: str, pairs) -> np.ndarray:
    """Logits from fairseq's own hub interface (RobertaModel.from_pretrained(...).predict)."""
    from fairseq.models.roberta import RobertaModel

    with torch.serialization.safe_globals([argparse.Namespace]):  # torch >= 2.6 loads weights only by default
        hub = RobertaModel.from_pretrained(str(folder), "model.pt", str(data), bpe="gpt2",
                                           gpt2_encoder_json=str(folder / "encoder.json"),
                                           gpt2_vocab_bpe=str(folder / "vocab.bpe"))
    hub.eval()
    with torch.no_grad():
        return np.concatenate([hub.predict(head, hub.encode(*pair), return_logits=True).numpy() for pair in pairs])


def test_converted_teacher_gives_fairseq_logits_in_task_order(fairseq_teacher, cache):
    root, folder, _, _ = fairseq_teacher
    directory = fairseq_teacher_directory(f"fairseq:{folder}")
    assert directory.parent == cache / "fairseq"
    model, tokenizer, order = load_teacher(str(directory), get_task("mnli"))
    expected = fairseq_logits(folder, root / "data-bin", "mnli_head", PAIRS)
    raw = predict_logits(model, tokenizer, PAIRS, show_progress=False)
    np.testing.assert_allclose(raw, expected, atol=1e-5, rtol=0)
    assert order.tolist() == [2, 1, 0]  # contradiction/neutral/entailment -> entailment/neutral/contradiction
    in_task_order = predict_logits(model, tokenizer, PAIRS, order=order, show_progress=False)
    np.testing.assert_allclose(in_task_order, expected[:, [FAIRSEQ_ORDER.index(name) for name in
                                                          get_task("mnli").label_names]], atol=1e-5, rtol=0)
    info = json.loads((directory / TEACHER_INFO).read_text())
    assert info["source"] == f"fairseq:{folder}" and info["loaded_via"] == "converted"
    assert info["task"] == "mnli" and info["fairseq_labels"] == FAIRSEQ_ORDER
    assert model.config.id2label == dict(enumerate(FAIRSEQ_ORDER))


def test_token_ids_equal_fairseq_dictionary_indices(fairseq_teacher, cache):
    from fairseq.data.encoders.gpt2_bpe_utils import get_encoder
    from transformers import AutoTokenizer

    from featherweight.teacher.fairseq import fairseq_token_ids, load_dictionary

    _, folder, _, _ = fairseq_teacher
    tokenizer = AutoTokenizer.from_pretrained(fairseq_teacher_directory(str(folder)))
    bpe = get_encoder(str(folder / "encoder.json"), str(folder / "vocab.bpe"))
    dictionary = load_dictionary(folder / "dict.txt")
    for pair in PAIRS:
        assert tokenizer(*pair)["input_ids"] == fairseq_token_ids(bpe, dictionary, pair)
        assert tokenizer(pair[0])["input_ids"] == fairseq_token_ids(bpe, dictionary, pair[:1])
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id,
            tokenizer.mask_token_id) == (0, 1, 2, 3, len(dictionary) - 1)


def test_second_call_reuses_the_cache_and_a_changed_checkpoint_converts_again(fairseq_teacher, cache, monkeypatch):
    import featherweight.teacher.fairseq as teacher_fairseq

    root, folder, model, cfg = fairseq_teacher
    first = fairseq_teacher_directory(str(folder))
    with monkeypatch.context() as patch:
        patch.setattr(teacher_fairseq, "convert", lambda *args, **kwargs: pytest.fail("converted again"))
        assert fairseq_teacher_directory(f"fairseq:{folder}") == first

    changed = root / "changed"
    shutil.copytree(folder, changed)
    weights = dict(model.state_dict())
    bias = "classification_heads.mnli_head.out_proj.bias"
    weights[bias] = weights[bias] + 1
    save_like_fairseq(weights, cfg, changed / "model.tmp")
    os.replace(changed / "model.tmp", changed / "model.pt")
    second = fairseq_teacher_directory(str(changed / "model.pt"))
    assert second != first and (first / TEACHER_INFO).is_file()
    task = get_task("mnli")
    old, new = (load_teacher(str(directory), task)[0] for directory in (first, second))
    difference = new.classifier.out_proj.bias - old.classifier.out_proj.bias
    torch.testing.assert_close(difference, torch.ones(3))


def test_fairseq_0_9_checkpoint_converts_to_the_same_model(fairseq_teacher, cache):
    root, folder, model, cfg = fairseq_teacher
    legacy = checkpoint_folder(root, model, cfg, name="legacy", save=save_like_fairseq_0_9)
    task = get_task("mnli")
    (new, tokenizer, _), (old, _, _) = (load_teacher(str(fairseq_teacher_directory(str(path))), task)
                                        for path in (folder, legacy))
    old_weights = old.state_dict()
    for name, tensor in new.state_dict().items():
        assert torch.equal(old_weights[name], tensor), name
    np.testing.assert_allclose(predict_logits(old, tokenizer, PAIRS, show_progress=False),
                               predict_logits(new, tokenizer, PAIRS, show_progress=False), atol=1e-6, rtol=0)


def test_mnli_head_without_label_dict_uses_fairseqs_documented_order(fairseq_teacher, cache):
    root, _, model, cfg = fairseq_teacher
    weights = {name.replace(".mnli_head.", ".mnli."): tensor for name, tensor in model.state_dict().items()}
    folder = checkpoint_folder(root, model, cfg, name="mnli", label_dict=False, weights=weights)
    info = json.loads((fairseq_teacher_directory(str(folder)) / TEACHER_INFO).read_text())
    assert info["label_names"] == FAIRSEQ_ORDER and info["classification_head"] == "mnli"


def test_a_head_without_label_dict_is_refused_naming_the_file_to_copy(fairseq_teacher, cache):
    root, _, model, cfg = fairseq_teacher
    weights = {name.replace(".mnli_head.", ".sentence_classification_head."): tensor
               for name, tensor in model.state_dict().items()}
    folder = checkpoint_folder(root, model, cfg, name="unnamed", label_dict=False, weights=weights)
    expected = root / "data-bin" / "label" / "dict.txt"
    with pytest.raises(FileNotFoundError, match=f"has no label/dict.txt.*copy {expected}"):
        fairseq_teacher_directory(str(folder))


def test_resolve_teacher_maps_a_fairseq_spec_to_the_converted_directory(fairseq_teacher, cache):
    from featherweight.teacher.model import resolve_teacher, teacher_info

    spec = f"fairseq:{fairseq_teacher[1]}"
    assert resolve_teacher(spec) == str(fairseq_teacher_directory(spec))
    assert teacher_info(spec)["loaded_via"] == "converted"


def test_a_checkpoint_holding_other_objects_is_refused_by_name(fairseq_teacher, cache):
    root, folder, model, cfg = fairseq_teacher
    unsafe = root / "unsafe"
    shutil.copytree(folder, unsafe)
    save_like_fairseq(model.state_dict(), cfg, unsafe / "model.pt", extra_state={"saved_in": Path("/tmp")})
    with pytest.raises(ValueError, match="does not load safely.*PosixPath"):
        fairseq_teacher_directory(str(unsafe))


def test_without_fairseq_a_cached_teacher_loads_and_a_new_one_says_what_to_install(fairseq_teacher, cache,
                                                                                    monkeypatch):
    spec = f"fairseq:{fairseq_teacher[1]}"
    converted = fairseq_teacher_directory(spec)
    real_import = builtins.__import__

    def no_fairseq(name, *args, **kwargs):
        if name == "fairseq" or name.startswith("fairseq."):
            raise ModuleNotFoundError("No module named 'fairseq'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fairseq)
    assert fairseq_teacher_directory(spec) == converted
    monkeypatch.setenv("FEATHERWEIGHT_CACHE", str(cache.parent / "empty-cache"))
    with pytest.raises(ImportError) as caught:
        fairseq_teacher_directory(spec)
    assert 'pip install "featherweight[fairseq]"' in str(caught.value) and "\n" not in str(caught.value)


def test_missing_files_are_named(tmp_path, cache):
    with pytest.raises(FileNotFoundError, match="no fairseq checkpoint"):
        fairseq_teacher_directory(str(tmp_path))
    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "dict.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="lacks encoder.json, vocab.bpe"):
        fairseq_teacher_directory(f"fairseq:{tmp_path}")


@pytest.mark.parametrize("labels, hints, expected", [
    (["contradiction", "neutral", "entailment"], ["head"], (FAIRSEQ_ORDER, "mnli")),
    (["1", "0"], ["sentence_classification_head", "/data/SST-2-bin"], (["positive", "negative"], "sst-2")),
    (["0", "1"], ["sentence_classification_head", "/data/QQP-bin"], (["not_duplicate", "duplicate"], "qqp")),
    (["0", "1"], ["sentence_classification_head", "/data/my-bin"], (["0", "1"], None)),  # no task named: as written
    (["spam", "ham"], ["head"], (["spam", "ham"], None)),
])
def test_label_names_are_the_tasks_names(labels, hints, expected):
    assert label_names(labels, hints) == expected


def test_mapping_uses_every_tensor_once_and_fills_every_parameter(fairseq_teacher):
    from transformers import RobertaConfig, RobertaForSequenceClassification

    _, _, model, _ = fairseq_teacher
    encoder = model.encoder.sentence_encoder
    hf_model = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=encoder.embed_tokens.num_embeddings, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=66, type_vocab_size=1, num_labels=3))
    weights = dict(model.state_dict())
    assert mapped_state_dict(weights, hf_model, "mnli_head").keys() == hf_model.state_dict().keys()
    with pytest.raises(ValueError, match="no Hugging Face counterpart"):
        mapped_state_dict({**weights, "encoder.sentence_encoder.extra.weight": torch.zeros(2)}, hf_model, "mnli_head")
    del weights["encoder.sentence_encoder.layers.1.fc2.bias"]
    with pytest.raises(ValueError, match="unfilled"):
        mapped_state_dict(weights, hf_model, "mnli_head")

