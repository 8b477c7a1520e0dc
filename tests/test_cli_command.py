"""A config rendered as its `featherweight compress ...` command line, and that line stored with every recorded run."""
from __future__ import annotations

import shlex

import pytest

from featherweight.cli import build_parser
from featherweight.cli_args import dataclass_from_args, dataclass_to_args
from featherweight.compression.prune import PruneConfig
from featherweight.compression.quantize import QuantizeConfig
from featherweight.data import DataConfig
from featherweight.experiments.pipeline import CompressConfig
from featherweight.experiments.records import cli_command, record_run
from featherweight.experiments.results import collect


def parsed(line: str) -> CompressConfig:
    """The config the CLI parser builds from a rendered `featherweight compress ...` line."""
    words = shlex.split(line)
    assert words[:2] == ["featherweight", "compress"], line
    argv = words[1:]
    return dataclass_from_args(CompressConfig, build_parser(argv).parse_args(argv))


CONFIGS = {
    "defaults": CompressConfig(),
    "thesis study point": CompressConfig(
        data=DataConfig(task="mnli", glue_dir="../shared/data/glue"), teacher="bench/work/teacher-mnli/best",
        embedding_type="char", alpha=0.0, epochs=4, patience=2, batch_size=32, work_dir="bench/work",
        output_dir="bench/work/skyline/students/mnli char", progress=False,
        compression_actions=["distill", "prune", "quantize"],
        quantization=QuantizeConfig(classifier_quantization="dynamic-per-batch")),
    "every kind of option": CompressConfig(
        data=DataConfig(task="qqp", heldout_fraction=0.1), student_arch="ffn", embedding_type="bpe", embedding_dim=25,
        hidden_dim=64, learning_rate=1e-5, weight_decay=1e-5, seed=7, soft_targets="saved/soft targets",
        compression_actions=["distill", "prune", "quantize"], pruning=PruneConfig(global_parts=("lstm", "rnn")),
        quantization=QuantizeConfig(embedding_quantization="int4-row", qat_epochs=2), export=["onnx", "c"]),
    "own data": CompressConfig(data=DataConfig(train_file="x/train.tsv", dev_file="x/dev.tsv", labels="a,b,c"),
                               epochs=3),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_rendered_command_parses_back_to_the_same_config(name):
    """cli_command's line, read by the `featherweight` parser, builds a config equal to the one rendered."""
    config = CONFIGS[name]
    assert parsed(cli_command("compress", config)) == config


def test_only_options_that_differ_from_the_defaults_are_written_in_help_order():
    """Defaults are left out; booleans read --no-NAME, lists A B, floats as Python writes them, in field order."""
    words = dataclass_to_args(CompressConfig(epochs=4, alpha=0.0, learning_rate=1e-3, progress=False,
                                             compression_actions=["distill", "quantize"]))
    assert words[words.index("--alpha"):] == ["--alpha", "0.0", "--soft-loss", "mse-logits", "--epochs", "4",
                                              "--learning-rate", "0.001", "--output-dir", words[-5], "--no-progress",
                                              "--compression-actions", "distill", "quantize"]
    assert "--seed" not in words and "--task" not in words and "--patience" not in words


def test_a_command_with_a_subcommand_is_written_with_both_words(tmp_path):
    """`analyze` records its sizes runs: their line reads `featherweight analyze sizes ...` and parses back."""
    from featherweight.measure.size import AnalyzeConfig

    models = [tmp_path / "a", tmp_path / "b c"]
    for model in models:  # analyze checks that each is a student artifact
        model.mkdir()
        (model / "student.json").write_text("{}")
    config = AnalyzeConfig(models=[str(model) for model in models], cache_dir="")
    words = shlex.split(cli_command("analyze", config))
    assert words[:3] == ["featherweight", "analyze", "sizes"]
    assert dataclass_from_args(AnalyzeConfig, build_parser(words[1:]).parse_args(words[1:])) == config


def test_a_value_the_command_line_cannot_express_is_refused_by_the_renderer_and_left_out_of_the_record():
    """None for an option whose default is not None has no command-line form: dataclass_to_args says so, and the
    record carries no command line rather than a wrong one."""
    config = CompressConfig()
    config.epochs = None
    with pytest.raises(ValueError, match="--epochs"):
        dataclass_to_args(config)
    assert cli_command("compress", config) is None


def test_a_recorded_run_stores_its_command_line_and_git_commit(tmp_path):
    """record_run keeps the `featherweight compress` line and the code's commit; every record of the run has them."""
    config = CONFIGS["thesis study point"]
    summary = {"name": "mnli", "output_dir": "out", "dev_matched_accuracy": 0.5}
    record_run("compress", config, lambda: summary, runs_dir=tmp_path / "runs", seed=config.seed)
    [record] = collect(tmp_path / "runs")
    assert record["cli_command"] == cli_command("compress", config) and parsed(record["cli_command"]) == config
    assert len(record["git_commit"]) == 40 and isinstance(record["git_dirty"], bool)  # the tests run in a checkout
