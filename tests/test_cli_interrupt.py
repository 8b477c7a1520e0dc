"""Ctrl-C, SIGTERM and path errors end a command in one line, and an interrupted run is recorded as INTERRUPTED."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import featherweight.augment.compose as compose_module
from featherweight.cli import INTERRUPTED, main

SLOW_COMMAND = '''
import signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal, even when started in the background
import featherweight.augment.compose as compose_module
from featherweight.cli import main

def slow_compose(config):
    Path(sys.argv[1]).write_text("started")
    time.sleep(120)

compose_module.compose = slow_compose
sys.exit(main(sys.argv[2:]))
'''


def run_statuses(runs: Path) -> list[str]:
    return [json.loads((run / "run.json").read_text())["status"] for run in sorted(runs.glob("[0-9]*"))]


def compose_args(glue_dir, tmp_path) -> list[str]:
    return ["compose", "--glue-dir", str(glue_dir), "--output", str(tmp_path / "out" / "c.tsv"),
            "--runs-dir", str(tmp_path / "runs")]


def interrupt_slow_run(tmp_path, glue_dir, signum) -> subprocess.CompletedProcess:
    """Start a recorded command that sleeps, send it `signum` once it runs, and wait for it to end."""
    script, started = tmp_path / "slow.py", tmp_path / "started"
    script.write_text(SLOW_COMMAND)
    process = subprocess.Popen([sys.executable, str(script), str(started), *compose_args(glue_dir, tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not started.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_run_in_one_line_recorded_interrupted(tmp_path, glue_dir, signum, code):
    """Ctrl-C (exit 130) or SIGTERM (143): one error line, no traceback, the run recorded INTERRUPTED."""
    result = interrupt_slow_run(tmp_path, glue_dir, signum)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    started = next(i for i, line in enumerate(lines) if "Started run with ID" in line)
    assert lines[started + 1:] == [f"ERROR featherweight: {INTERRUPTED}"]
    assert run_statuses(tmp_path / "runs") == ["INTERRUPTED"]


def test_keyboard_interrupt_in_a_command_returns_130(tmp_path, glue_dir, monkeypatch, caplog):
    """A KeyboardInterrupt raised inside a recorded command is logged once, returns 130, and the run is INTERRUPTED."""
    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(compose_module, "compose", interrupted)
    before = signal.getsignal(signal.SIGTERM)
    assert main(compose_args(glue_dir, tmp_path)) == 130
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "WARNING")] == [INTERRUPTED]
    assert run_statuses(tmp_path / "runs") == ["INTERRUPTED"]
    assert signal.getsignal(signal.SIGTERM) is before  # main puts the caller's SIGTERM handler back


@pytest.mark.parametrize("error, hint", [
    (PermissionError(13, "Permission denied", "/data/out.tsv"), "/data/out.tsv: permission denied; check its"),
    (IsADirectoryError(21, "Is a directory", "/data/out.tsv"), "/data/out.tsv: is a directory; a file is expected"),
    (NotADirectoryError(20, "Not a directory", "/data/f/x"), "/data/f/x: not a directory; a part of that path"),
])
def test_path_errors_are_one_line_with_exit_2(tmp_path, glue_dir, monkeypatch, caplog, error, hint):
    """PermissionError, IsADirectoryError and NotADirectoryError name the path and what to do, exit 2."""
    def failing(config):
        raise error

    monkeypatch.setattr(compose_module, "compose", failing)
    assert main([*compose_args(glue_dir, tmp_path), "--no-record"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith(hint)


def test_an_output_under_a_file_is_one_line(tmp_path, glue_dir):
    """`compose --output FILE/sub/c.tsv`, where FILE is a file, exits 2 naming the path, without a traceback."""
    (tmp_path / "file").write_text("x")
    output = tmp_path / "file" / "sub" / "c.tsv"
    result = subprocess.run([sys.executable, "-m", "featherweight.cli", "compose", "--glue-dir", str(glue_dir),
                             "--output", str(output), "--no-record"], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"ERROR featherweight: {tmp_path / 'file'}" in result.stderr and "not a directory" in result.stderr


def test_unexpected_errors_keep_their_traceback(tmp_path, glue_dir, monkeypatch):
    """A bug (here a RuntimeError) is not turned into a one-line message: it propagates with its traceback."""
    def buggy(config):
        raise RuntimeError("a bug")

    monkeypatch.setattr(compose_module, "compose", buggy)
    with pytest.raises(RuntimeError, match="a bug"):
        main([*compose_args(glue_dir, tmp_path), "--no-record"])
