"""The command line builds only the invoked command: `featherweight predict` and `--help` never import torch."""
from __future__ import annotations

import json
import subprocess
import sys


from featherweight.cli import COMMANDS, SUBCOMMANDS, build_parser
from conftest import commands, options

HEAVY = ("torch", "transformers")
# Runs featherweight.cli.main on argv (JSON in sys.argv[1]), then prints which heavy modules were imported.
SCRIPT = """
import json, sys
from featherweight.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "imported": [name for name in %r if name in sys.modules]}))
""" % (HEAVY,)


def run_cli(argv: list[str]) -> tuple[dict, str]:
    """(the report of SCRIPT, everything printed before it) for `featherweight ARGV` in a fresh process."""
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(argv)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    *printed, report = result.stdout.strip().splitlines()
    return json.loads(report), "\n".join(printed)




def test_predict_command_imports_neither_torch_nor_transformers(ffn_onnx_export):
    """`featherweight predict --model EXPORT TEXT` classifies and leaves torch and transformers unimported."""
    report, printed = run_cli(["predict", "--model", str(ffn_onnx_export), "a fine film"])
    assert report == {"code": 0, "imported": []}
    assert json.loads(printed)["predictions"][0]["label"] in ("negative", "positive")


def test_top_level_help_lists_every_command_without_importing_them():
    """`featherweight --help` lists every command of COMMANDS with its help, and imports neither torch nor
    transformers."""
    report, printed = run_cli(["--help"])
    assert report == {"code": 0, "imported": []}
    text = " ".join(printed.split())
    for name, command in COMMANDS.items():
        assert name in text and " ".join(command.help.split()[:4]) in text, name


def test_a_command_built_alone_has_the_options_of_the_full_parser():
    """Building the parser for one command gives that command exactly the options the full parser gives it."""
    full = {path: sorted(flag for action in options(sub) for flag in action.option_strings)
            for path, sub in commands(build_parser())}
    invocations = [[name] for name in COMMANDS if name not in SUBCOMMANDS]
    invocations += [["-v", name, sub] for name in SUBCOMMANDS for sub in SUBCOMMANDS[name]]
    for argv in invocations:
        path = tuple(arg for arg in argv if not arg.startswith("-"))
        alone = dict(commands(build_parser(argv)))[path]
        assert sorted(flag for action in options(alone) for flag in action.option_strings) == full[path], path
        assert full[path], path
