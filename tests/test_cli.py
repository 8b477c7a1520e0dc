"""The featherweight command: help on every subcommand and recorded runs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from featherweight.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    """`featherweight COMMAND --help` prints usage and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"featherweight {command}" in capsys.readouterr().out


def test_finetune_soft_targets_and_evaluate_are_recorded(tmp_path, glue_dir, tiny_bert, capsys):
    """Each command run writes a sacred record with its config, seed, versions and metrics."""
    runs = tmp_path / "runs"
    teacher_dir = tmp_path / "teacher"
    common = ["--task", "sst-2", "--glue-dir", str(glue_dir), "--no-progress", "--runs-dir", str(runs)]
    assert main(["finetune", *common, "--teacher", str(tiny_bert), "--output-dir", str(teacher_dir),
                 "--epochs", "1", "--seed", "7"]) == 0
    assert main(["soft-targets", "--teacher", str(teacher_dir / "best"), "--data-file",
                 str(glue_dir / "SST-2" / "dev.tsv"), "--no-progress", "--runs-dir", str(runs)]) == 0
    assert main(["evaluate", "--model", str(teacher_dir / "best"), *common]) == 0
    printed = capsys.readouterr().out
    assert '"dev_accuracy"' in printed

    records = sorted(runs.glob("[0-9]*"), key=lambda p: int(p.name))
    assert len(records) == 3
    config = json.loads((records[0] / "config.json").read_text())
    assert config["seed"] == 7 and config["data"]["task"] == "sst-2" and config["epochs"] == 1
    run = json.loads((records[0] / "run.json").read_text())
    info = json.loads((records[0] / "info.json").read_text())
    assert run["status"] == "COMPLETED" and "torch" in info["versions"]
    assert run["host"]["python_version"]
    metrics = json.loads((records[0] / "metrics.json").read_text())
    assert {"heldout_accuracy", "dev_accuracy", "train_seconds"} <= set(metrics)
    assert (teacher_dir / "soft-targets" / "sst-2-dev.npz").is_file()


def test_bad_input_exits_with_a_clear_message(tmp_path, caplog):
    """A user error is logged in one line and exits 2, without a traceback."""
    code = main(["evaluate", "--model", "x", "--task", "sst-2", "--data-file", str(tmp_path / "none.tsv"),
                 "--no-record"])
    assert code == 2 and "none.tsv: file not found" in caplog.text


def test_console_script_runs_as_a_module():
    """`python -m featherweight.cli --help` works (the console script's entry point)."""
    result = subprocess.run([sys.executable, "-m", "featherweight.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "soft-targets" in result.stdout
