"""Compile an exported C model with gcc (host) or arm-none-eabi-gcc (Cortex-M4); run it, check it and read its size.

The host harness (c/fw_harness.c) reads records (a 4-byte little-endian length, then that many bytes: any bytes,
NUL and ill-formed UTF-8 included) and prints, per text (per pair for pair models), the token ids (`tokens`),
the label, logits and nanoseconds taken (`logits`), or the codepoints of the C UTF-8 decoder (`codepoints`); or
it compares the logits with expected ones inside C and exits 1 on a mismatch beyond a tolerance (`check`). It
includes the model source, so it reaches the decoder, a static function.
The Cortex-M4 build compiles the model object alone and a minimal firmware (c/fw_firmware.c) that calls it
(newlib-nano, no OS), and reads flash (text + data) and RAM (data + bss) with arm-none-eabi-size.
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from featherweight.deploy import c_runtime

HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic")
SANITIZER_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")
CORTEX_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99", "-Os",
                   "-Wall", "-Wextra", "-pedantic", "-ffunction-sections", "-fdata-sections", "-fstack-usage")
ARM_GCC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
ARM_MISSING = (f"{ARM_GCC} not found: install the Debian/Ubuntu package gcc-arm-none-eabi "
               "(apt-get install -y gcc-arm-none-eabi) to cross-compile for Cortex-M4.")


class BuildError(RuntimeError):
    """A compiler or the built program failed; the message holds its output."""


def _export_sources(export_dir) -> tuple[Path, Path, str]:
    export_dir = Path(export_dir)
    manifest = json.loads((export_dir / "export.json").read_text())
    if manifest.get("format") != "c":
        raise ValueError(f"{export_dir} holds a {manifest.get('format')!r} export; build C from a --format c export.")
    files = manifest["files"]
    return export_dir / files["source"], export_dir / files["header"], manifest["c_prefix"]


def _run(command: list, what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"{what} failed ({result.returncode}): {' '.join(map(str, command))}\n{result.stderr[-4000:]}")
    return result


def _with_prefix(name: str, prefix: str) -> str:
    """The C file `name` of c/ renamed to the export's prefix, as c_export renames the export (its
    `#include "fw_model.c"` / `"fw_model.h"` included)."""
    return c_runtime.read(name).replace("fw_", f"{prefix}_").replace("FW_", f"{prefix.upper()}_")


def host_compiler() -> str:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise BuildError("No C compiler (gcc or cc) on PATH; install gcc to build the host harness.")
    return compiler


def _compiles(flags: tuple) -> str | None:
    """None when the host compiler builds and runs a small program with `flags`, else the first line of why not."""
    with tempfile.TemporaryDirectory(prefix="fw-probe-") as tmp:
        program = Path(tmp) / "probe.c"
        program.write_text("#include <stdlib.h>\n"
                           "int main(void) { char *p = malloc(4); p[0] = 0; free(p); return 0; }\n")
        try:
            _run([host_compiler(), *flags, program, "-o", Path(tmp) / "probe"], f"Compiling with {' '.join(flags)}")
            _run([Path(tmp) / "probe"], f"Running a program built with {' '.join(flags)}")
        except BuildError as error:
            return str(error).splitlines()[0]
    return None


@functools.lru_cache(maxsize=None)
def host_flags() -> tuple:
    """HOST_FLAGS, plus -march=native where the compiler takes it: the harness runs where it is built, and the
    vectorised kernels give the same bits with any instruction set (ISO C mode: no fused multiply-add)."""
    return HOST_FLAGS + (("-march=native",) if _compiles(("-march=native",)) is None else ())


@functools.lru_cache(maxsize=None)
def host_sanitizers() -> str | None:
    """None when the host compiler builds and runs programs under SANITIZER_FLAGS, else why not."""
    return _compiles(SANITIZER_FLAGS)


def build_host(export_dir, work_dir=None, flags=None) -> tuple[Path, str]:
    """Compile the export with the host harness (one translation unit; `flags`, default host_flags(), also link it,
    so sanitizer flags work); returns (executable, compiler warnings)."""
    flags = host_flags() if flags is None else flags
    source, header, prefix = _export_sources(export_dir)
    work = Path(work_dir or tempfile.mkdtemp(prefix="fw-host-"))
    work.mkdir(parents=True, exist_ok=True)
    harness = work / "harness.c"
    harness.write_text(_with_prefix(c_runtime.HARNESS, prefix))
    exe = work / "fw_host"
    built = _run([host_compiler(), *flags, "-I", source.parent, harness, "-lm", "-o", exe],
                 "Compiling the model with its host harness")
    return exe, built.stderr


def _records_file(records: list, work: Path) -> Path:
    """Each record (str: its UTF-8; bytes: as is) after its length, 4 bytes little-endian."""
    path = work / "records.bin"
    data = [text.encode("utf-8") if isinstance(text, str) else bytes(text) for text in records]
    path.write_bytes(b"".join(len(item).to_bytes(4, "little") + item for item in data))
    return path


def run_codepoints(exe, records: list) -> list[list[int]]:
    """Codepoints the C UTF-8 decoder reads from each record (bytes, or str as UTF-8), before normalisation."""
    exe = Path(exe)
    out = _run([exe, "codepoints", _records_file(records, exe.parent)], "The C decoder").stdout.splitlines()
    return [[int(v) for v in line.split()] for line in out]


def run_tokens(exe, texts: list) -> list[np.ndarray]:
    """Token ids the C tokenizer gives each text (str, or bytes as they are), each (T, C) int64."""
    exe = Path(exe)
    out = _run([exe, "tokens", _records_file(texts, exe.parent)], "The C tokenizer").stdout.splitlines()
    result = []
    for line in out:
        numbers = [int(v) for v in line.split()]
        n, ids = numbers[0], numbers[1:]
        result.append(np.asarray(ids, dtype=np.int64).reshape(n, -1 if n else 1))
    return result


def run_logits(exe, texts: list, texts_b: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, L) float32, nanoseconds per text (N,)) from the C model on the host; texts are str or bytes."""
    exe = Path(exe)
    records = list(texts) if texts_b is None else [t for pair in zip(texts, texts_b) for t in pair]
    lines = _run([exe, "logits", _records_file(records, exe.parent)], "The C model").stdout.splitlines()
    rows = [line.split() for line in lines]
    logits = np.asarray([[float(v) for v in row[1:-1]] for row in rows], dtype=np.float32)
    nanoseconds = np.asarray([int(row[-1]) for row in rows], dtype=np.int64)
    return logits, nanoseconds


def check_logits(exe, texts: list, expected, atol: float, texts_b: list | None = None) -> None:
    """Let the harness compare the C logits of `texts` (str or bytes; pairs with `texts_b`) with `expected` (N, L),
    inside C; BuildError with its report when a logit is off by more than `atol` (or NaN), or the run fails."""
    exe = Path(exe)
    expected = np.asarray(expected, dtype=np.float64)
    records = list(texts) if texts_b is None else [t for pair in zip(texts, texts_b) for t in pair]
    if expected.ndim != 2 or len(expected) != len(texts):
        raise ValueError(f"Expected logits of shape ({len(texts)}, labels), one row per text; got {expected.shape}.")
    expected_file = exe.parent / "expected.txt"
    expected_file.write_text("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in expected))
    _run([exe, "check", _records_file(records, exe.parent), expected_file, repr(float(atol))],
         f"The C logits check (tolerance {atol})")


def have_arm_toolchain() -> bool:
    return shutil.which(ARM_GCC) is not None and shutil.which(ARM_SIZE) is not None


def _berkeley_size(path: Path) -> dict:
    line = _run([ARM_SIZE, path], "arm-none-eabi-size").stdout.splitlines()[1].split()
    text, data, bss = (int(v) for v in line[:3])
    return {"text": text, "data": data, "bss": bss, "flash_bytes": text + data, "ram_bytes": data + bss}


def cortex_m4_size(export_dir, work_dir=None) -> dict:
    """Cross-compile for Cortex-M4F and report flash and RAM of the model object and of a minimal firmware.

    flash_bytes / ram_bytes: the linked firmware (model + libm + newlib-nano startup), what a board
    needs; model_flash_bytes / model_ram_bytes: the model object alone. stack_bytes_bound: the sum of
    every model function's frame (-fstack-usage), an upper bound on the deepest call chain.
    """
    if not have_arm_toolchain():
        raise BuildError(ARM_MISSING)
    source, header, prefix = _export_sources(export_dir)
    work = Path(work_dir or tempfile.mkdtemp(prefix="fw-m4-"))
    work.mkdir(parents=True, exist_ok=True)
    model_o = work / "model.o"
    compiled = _run([ARM_GCC, *CORTEX_M4_FLAGS, "-c", source, "-o", model_o], "Cross-compiling the model")
    firmware = work / "firmware.c"
    firmware.write_text(_with_prefix(c_runtime.FIRMWARE, prefix))
    elf = work / "firmware.elf"
    _run([ARM_GCC, *CORTEX_M4_FLAGS, "-I", header.parent, "--specs=nano.specs", "--specs=nosys.specs",
          "-Wl,--gc-sections", firmware, source, "-lm", "-o", elf], "Linking the Cortex-M4 firmware", cwd=work)
    model, linked = _berkeley_size(model_o), _berkeley_size(elf)
    stack = 0
    usage = work / "model.su"
    if usage.is_file():
        stack = sum(int(line.split("\t")[1]) for line in usage.read_text().splitlines() if line.strip())
    return {"flash_bytes": linked["flash_bytes"], "ram_bytes": linked["ram_bytes"],
            "model_flash_bytes": model["flash_bytes"], "model_ram_bytes": model["ram_bytes"],
            "stack_bytes_bound": stack, "flags": " ".join(CORTEX_M4_FLAGS), "warnings": compiled.stderr.strip()}
