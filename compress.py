"""Featherweight's main command: `python compress.py --student-arch bilstm ...` (same as `featherweight compress`)."""
import sys

from featherweight.cli import main

if __name__ == "__main__":
    sys.exit(main(["compress", *sys.argv[1:]]))
