"""The CLI explains itself: every option described from its config field's comment, with its default; --version."""
from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from featherweight.cli import build_parser, main
from featherweight.cli_args import add_dataclass_arguments, field_comments, option_help
from conftest import commands, options

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"\s*\((default: .*|required)\)$")


def undescribed(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    """Options whose help is no more than a default marker, or shows a bare "(default: None)"."""
    bad = []
    for action in options(parser):
        text = action.help or ""
        if len(MARKER.sub("", text).split()) < 2 or "(default: None)" in text:
            bad.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}: {text!r}")
    return bad


def test_every_option_of_every_command_is_described():
    """Each option of each (sub)command has a description beyond its default, and every --help renders."""
    parser = build_parser()
    bad = undescribed(parser)
    for path, sub in commands(parser):
        bad += undescribed(sub, path)
        assert sub.format_help()  # a stray % in a comment would break argparse's formatting
    assert bad == [], "add a `# comment` to these config fields:\n" + "\n".join(bad)


def test_a_field_without_a_comment_fails_the_description_check():
    """A config field added without a comment (or a None default without its meaning) is caught."""
    @dataclasses.dataclass
    class Config:
        described: int = 3  # steps per round
        bare: int = 4
        unexplained: str | None = None  # a folder

    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Config)
    bad = undescribed(parser)
    assert len(bad) == 2 and "--bare" in bad[0] and "--unexplained" in bad[1]
    assert parser._option_string_actions["--described"].help == "steps per round (default: 3)"


def test_option_help_says_what_none_means():
    """A None default shows the phrase after "; default: " in its comment, not "None"."""
    assert option_help("state size; default: thesis preset", None, False) == "state size (default: thesis preset)"
    assert option_help("a folder; default: x", "y", False) == "a folder; default: x (default: y)"
    assert option_help("list of texts", [], False) == "list of texts (default: none)"
    assert option_help("on or off", True, False) == "on or off (default: on)"
    assert option_help("the model", None, True) == "the model (required)"
    assert option_help("50% of rows", 0.5, False) == "50%% of rows (default: 0.5)"


def test_field_comments_come_from_the_parent_config_too():
    """CompressConfig's options take DistillConfig's comments (its base class) as well as its own."""
    from featherweight.experiments.pipeline import CompressConfig

    comments = field_comments(CompressConfig)
    assert "teacher logits" in comments["soft_targets"] and "compression_actions" in comments


def test_compress_help_explains_soft_targets_and_presets(capsys):
    """`compress --help` describes --soft-targets and reads "thesis preset" for the arch defaults."""
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0
    assert "--soft-targets SOFT_TARGETS saved teacher logits" in text
    assert "--hidden-dim HIDDEN_DIM recurrent state size per direction (default: thesis preset" in text
    assert "--progress, --no-progress show progress bars (default: on)" in text
    assert "(default: None)" not in text and "(default: True)" not in text


@pytest.mark.parametrize("command", [[sys.executable, "-m", "featherweight.cli", "--version"],
                                     [sys.executable, "compress.py", "--version"]])
def test_version_prints_the_package_version(command):
    """`featherweight --version` and `python compress.py --version` print the installed version and exit 0."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"featherweight {metadata.version('featherweight')}"


def test_only_commands_that_record_runs_offer_runs_dir_and_record():
    """predict, sweep, analyze results and analyze plot have no --record; sweep keeps its own --runs-dir."""
    flags = {" ".join(path): {flag for action in options(sub) for flag in action.option_strings}
             for path, sub in commands(build_parser())}
    for name in ("predict", "sweep", "analyze results", "analyze plot"):
        assert "--record" not in flags[name], name
    assert "--runs-dir" not in flags["predict"] and "--runs-dir" in flags["sweep"]
    for name in ("compress", "finetune", "evaluate", "export", "analyze sizes"):
        assert {"--record", "--no-record", "--runs-dir"} <= flags[name], name
