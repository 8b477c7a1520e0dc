"""Read the C runtime of an exported student: the real C files under c/, shipped as package data.

`fw_runtime.h` (switches, derived sizes, types) and the code files go into <prefix>_model.c verbatim, around
the tables c_export.py generates; `fw_api.h` into the header. `fw_harness.c` and `fw_firmware.c` are c_build.py's
host harness and Cortex-M4 firmware, never part of an export.
"""
from __future__ import annotations

from pathlib import Path

C_DIR = Path(__file__).with_name("c")
RUNTIME_HEADER = "fw_runtime.h"  # before the tables: they use its fw_matrix type
CODE_FILES = ("fw_text.c", "fw_tokenizers.c", "fw_kernels.c", "fw_network.c")  # after the tables, in this order
API_HEADER = "fw_api.h"
HARNESS = "fw_harness.c"
FIRMWARE = "fw_firmware.c"


def read(name: str) -> str:
    """The text of the C file `name` in c/."""
    return (C_DIR / name).read_text(encoding="utf-8")


def runtime_code() -> str:
    """The runtime's code files, concatenated in order."""
    return "\n".join(read(name) for name in CODE_FILES)


def generated_part(source: str) -> str:
    """An exported <prefix>_model.c (prefix fw) without the runtime files copied into it: what the export generated
    for its model (switches, sizes, tables)."""
    for name in (RUNTIME_HEADER, *CODE_FILES):
        source = source.replace(read(name), "")
    return source
