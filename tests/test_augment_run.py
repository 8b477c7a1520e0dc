"""`featherweight augment` end to end: task layout, metadata, GloVe-only mode, pairs, determinism and resuming."""
from __future__ import annotations

import json
import logging

import pytest

from featherweight.data import DataConfig, get_task, load_splits, read_task_file
from conftest import build_tiny_glove, build_tiny_mlm


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("augment-models")
    return {"glove_dir": str(build_tiny_glove(root / "glove")), "mlm": str(build_tiny_mlm(root / "mlm"))}


class SimulatedCrash(Exception):
    """Stands for an interruption (Ctrl-C, a killed job) in the middle of a run."""


def _variant_of(text: str, source: str) -> bool:
    from featherweight.augment.words import is_candidate

    words, original = text.split(), source.split()
    return len(words) == len(original) and all(w == o or is_candidate(o) for w, o in zip(words, original))


def distill_run_config(glue_dir, models, out, task="sst-2", mlm=True, **overrides):
    from featherweight.augment import AugmentConfig

    settings = dict(data=DataConfig(task=task, glue_dir=str(glue_dir), heldout_fraction=0.1),
                    output=str(out / "augmented.tsv"), mlm=models["mlm"] if mlm else None,
                    glove_dir=models["glove_dir"], samples=6, top_k=6, shard_rows=50, progress=False)
    return AugmentConfig(**{**settings, **overrides})


def test_output_reads_as_the_task_file_and_keeps_source_labels(glue_dir, models, tmp_path):
    """The augmented TSV has the train file's header, reads with read_task_file, and every row keeps its source row's label."""
    from featherweight.augment import augment

    config = distill_run_config(glue_dir, models, tmp_path)
    summary = augment(config)
    task = get_task("sst-2")
    train = load_splits(config.data, show_progress=False)["train"]
    out = read_task_file(config.output, task)  # labelled: the label column is the source row's
    assert (tmp_path / "augmented.tsv").read_text().splitlines()[0] == "sentence\tlabel"
    assert len(out) == summary["rows"] > len(train)
    assert len(set(out.texts_a)) == len(out) and not set(out.texts_a) & set(train.texts_a)
    for text, label in zip(out.texts_a, out.labels):  # some source row differs only in candidate words
        assert any(_variant_of(text, source) and label == source_label
                   for source, source_label in zip(train.texts_a, train.labels)), text
    meta = json.loads(config.metadata_path.read_text())
    assert meta["identity"]["source_row_count"] == len(train)  # held-out rows are not augmented
    assert meta["identity"]["samples"] == 6 and len(meta["identity"]["source_sha256"]) == 64
    assert meta["identity"]["mlm"]["sha256"] and meta["summary"]["candidate_source"] == "masked LM + GloVe"
    assert meta["summary"]["counts"]["mlm_sequences"] > 0 and meta["note"] is None
    assert not (tmp_path / "augmented.shards").exists()


def test_glove_only_run_says_so_in_the_log_and_metadata(glue_dir, models, tmp_path, caplog):
    """Without a masked LM every word uses GloVe, and both the log and the metadata say so."""
    from featherweight.augment import augment

    config = distill_run_config(glue_dir, models, tmp_path, mlm=False, max_rows=40)
    with caplog.at_level(logging.WARNING):
        summary = augment(config)
    meta = json.loads(config.metadata_path.read_text())
    assert summary["candidate_source"] == "GloVe only" and "GloVe" in meta["note"]
    assert meta["identity"]["mlm"] is None and "mlm_sequences" not in summary["counts"]
    assert any("No masked LM given" in record.message for record in caplog.records)


@pytest.mark.parametrize("task", ["qqp", "mnli"])
def test_pairs_change_one_side_and_keep_the_other(glue_dir, models, tmp_path, task):
    """For QQP and MNLI every augmented pair keeps one side of its source pair unchanged."""
    from featherweight.augment import augment

    config = distill_run_config(glue_dir, models, tmp_path, task=task, max_rows=30)
    augment(config)
    spec = get_task(task)
    source = read_task_file(glue_dir / spec.directory / "train.tsv", spec)
    pairs = set(zip(source.texts_a, source.texts_b))
    out = read_task_file(config.output, spec, labelled=False)
    assert len(out) > 0
    for a, b in zip(out.texts_a, out.texts_b):
        assert any((a == sa) != (b == sb) for sa, sb in pairs), (a, b)
    assert {a for a in out.texts_a} & set(source.texts_a) and {b for b in out.texts_b} & set(source.texts_b)


def test_same_seed_gives_the_same_file_and_another_seed_another(glue_dir, models, tmp_path):
    """Two runs with one seed write identical files; a different seed writes a different one."""
    from featherweight.augment import augment

    texts = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        config = distill_run_config(glue_dir, models, tmp_path / name, seed=seed, max_rows=60)
        augment(config)
        texts.append((tmp_path / name / "augmented.tsv").read_text())
    assert texts[0] == texts[1] != texts[2]


def test_interrupted_run_resumes_from_finished_shards(glue_dir, models, tmp_path, monkeypatch):
    """After a crash, a rerun skips the finished shards and writes the same file as an uninterrupted run."""
    import featherweight.augment.run as run

    reference = distill_run_config(glue_dir, models, tmp_path / "whole", max_rows=120, shard_rows=40)
    run.augment(reference)
    calls, real = [], run.augment_rows

    def crash_on_second_shard(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2 and crash:
            raise SimulatedCrash
        return real(*args, **kwargs)

    crash = True
    monkeypatch.setattr(run, "augment_rows", crash_on_second_shard)
    config = distill_run_config(glue_dir, models, tmp_path / "resumed", max_rows=120, shard_rows=40)
    with pytest.raises(SimulatedCrash):
        run.augment(config)
    assert sorted(p.name for p in (tmp_path / "resumed" / "augmented.shards").glob("shard-*.json")) == ["shard-00000.json"]
    calls.clear()
    crash = False
    run.augment(config)
    assert len(calls) == 2  # shards 1 and 2 only
    assert (tmp_path / "resumed" / "augmented.tsv").read_text() == (tmp_path / "whole" / "augmented.tsv").read_text()


def test_changed_settings_never_mix_with_old_shards(glue_dir, models, tmp_path, caplog):
    """Shards left by a run with other settings are discarded, and a finished file of other settings is redone."""
    from featherweight.augment import augment

    out = tmp_path / "run"
    first = distill_run_config(glue_dir, models, out, max_rows=40, shard_rows=20)
    augment(first)
    shards = out / "augmented.shards"
    shards.mkdir()
    (shards / "identity.json").write_text(json.dumps({"seed": -1}))
    (shards / "shard-00000.tsv").write_text("stale row\t1\n")
    (shards / "shard-00000.json").write_text(json.dumps({"rows": 1}))
    second = distill_run_config(glue_dir, models, out, max_rows=40, shard_rows=20, replace_prob=0.9)
    with caplog.at_level(logging.WARNING):
        summary = augment(second)
    assert "stale row" not in (out / "augmented.tsv").read_text()
    assert summary["rows"] == len(read_task_file(out / "augmented.tsv", get_task("sst-2")))
    assert any("other settings" in record.message for record in caplog.records)


def test_finished_output_is_reused(glue_dir, models, tmp_path):
    """A second call with the same settings returns the stored summary without rewriting the file."""
    from featherweight.augment import augment

    config = distill_run_config(glue_dir, models, tmp_path, mlm=False, max_rows=20)
    first = augment(config)
    stamp = (tmp_path / "augmented.tsv").stat().st_mtime_ns
    assert augment(config) == first and (tmp_path / "augmented.tsv").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("field, value, message", [("replace_prob", 0.0, "replace_prob"),
                                                    ("samples", 0, "samples"),
                                                    ("glove_vocab", 10, "must exceed top_k")])
def test_config_rejects_invalid_settings(field, value, message):
    """Out-of-range settings are refused when the config is built, naming the setting."""
    from featherweight.augment import AugmentConfig

    with pytest.raises(ValueError, match=message):
        AugmentConfig(**{field: value})


def test_cli_options_build_the_same_config(glue_dir, tmp_path):
    """The dataclass-built `featherweight augment` options parse into an AugmentConfig, nested DataConfig included."""
    import argparse

    from featherweight.augment import AugmentConfig
    from featherweight.cli_args import add_dataclass_arguments, dataclass_from_args

    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, AugmentConfig)
    args = parser.parse_args(["--task", "qqp", "--glue-dir", str(glue_dir), "--samples", "8", "--replace-prob", "0.3",
                              "--output", str(tmp_path / "a.tsv"), "--no-progress"])
    config = dataclass_from_args(AugmentConfig, args)
    assert config == AugmentConfig(data=DataConfig(task="qqp", glue_dir=str(glue_dir)), samples=8, replace_prob=0.3,
                                   output=str(tmp_path / "a.tsv"), progress=False)


def test_teacher_labels_the_augmented_file_and_distributions_compare(glue_dir, models, tmp_path):
    """soft-targets labels the augmented TSV as it is, and label_distributions compares it with the original labels."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from conftest import build_tiny_bert
    from featherweight.augment import augment, label_distributions
    from featherweight.teacher.soft_targets import SoftTargetConfig, soft_targets

    teacher = build_tiny_bert(tmp_path / "teacher")  # untrained is enough to label; names must match the task
    model = AutoModelForSequenceClassification.from_pretrained(
        teacher, config=AutoConfig.from_pretrained(teacher, id2label={0: "negative", 1: "positive"}))
    model.save_pretrained(teacher)
    config = distill_run_config(glue_dir, models, tmp_path, mlm=False, max_rows=30)
    summary = augment(config)
    targets = soft_targets(SoftTargetConfig(teacher=str(teacher), data_file=config.output, task="sst-2",
                                            output=str(tmp_path / "targets.npz"), shard_size=100, progress=False))
    train = load_splits(config.data, show_progress=False)["train"]
    result = label_distributions(train.labels, targets, "sst-2",
                                 augmented_source_labels=read_task_file(config.output, get_task("sst-2")).labels)
    assert targets.logits.shape == (summary["rows"], 2) == (result["augmented"]["rows"], 2)
    assert result["original"]["rows"] == len(train)
    assert 0.0 <= result["augmented_teacher_agrees_with_source_label"] <= 1.0
