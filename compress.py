"""Featherweight's main command: `python compress.py --student-arch bilstm ...` (same as `featherweight compress`)."""
import sys

from featherweight.cli import main


def run(argv: list[str]) -> int:
    """`--version` alone asks for the tool's version; anything else is compress's options."""
    return main(argv if argv == ["--version"] else ["compress", *argv])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
