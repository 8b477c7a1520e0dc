"""Compile an exported C model with gcc (host) or arm-none-eabi-gcc (Cortex-M4); run it and read its size.

The host harness reads NUL-separated UTF-8 records from a file and prints, per text (per pair
for pair models), either the token ids (`tokens`) or the label, logits and nanoseconds taken
(`logits`). The Cortex-M4 build compiles the model object alone and a minimal firmware that calls
it (newlib-nano, no OS), and reads flash (text + data) and RAM (data + bss) with arm-none-eabi-size.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic")
CORTEX_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99", "-Os",
                   "-Wall", "-Wextra", "-pedantic", "-ffunction-sections", "-fdata-sections", "-fstack-usage")
ARM_GCC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
ARM_MISSING = (f"{ARM_GCC} not found: install the Debian/Ubuntu package gcc-arm-none-eabi "
               "(apt-get install -y gcc-arm-none-eabi) to cross-compile for Cortex-M4.")

HARNESS = r"""/* Host test harness for an exported Featherweight model (not part of the export). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "HEADER"

static fw_id_t ids[FW_MAX_TOKENS * FW_IDS_PER_TOKEN];

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int run(const char *a, const char *b, float *logits)
{
#if FW_PAIR
    return fw_predict_pair(a, b, logits);
#else
    (void)b;
    return fw_predict(a, logits);
#endif
}

int main(int argc, char **argv)
{
    FILE *file;
    char *data, *p, *end;
    long size;
    float logits[FW_NUM_LABELS];
    int tokens_mode, j;
    if (argc != 3) { fprintf(stderr, "usage: %s tokens|logits RECORDS_FILE\n", argv[0]); return 2; }
    tokens_mode = strcmp(argv[1], "tokens") == 0;
    file = fopen(argv[2], "rb");
    if (!file) { perror(argv[2]); return 2; }
    fseek(file, 0, SEEK_END); size = ftell(file); fseek(file, 0, SEEK_SET);
    data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, file) != (size_t)size) { fprintf(stderr, "read failed\n"); return 2; }
    fclose(file);
    data[size] = 0;
    end = data + size;
    if (!tokens_mode && size > 0) run(data, data, logits);  /* warm up */
    for (p = data; p < end; ) {
        const char *a = p, *b = p;
        p += strlen(p) + 1;
        if (tokens_mode) {
            int n = fw_tokenize(a, ids);
            printf("%d", n);
            for (j = 0; j < n * FW_IDS_PER_TOKEN; j++) printf(" %lu", (unsigned long)ids[j]);
            printf("\n");
        } else {
            long long began;
            int label;
            if (FW_PAIR) { b = p; p += strlen(p) + 1; }
            began = now_ns();
            label = run(a, b, logits);
            began = now_ns() - began;
            printf("%d", label);
            for (j = 0; j < FW_NUM_LABELS; j++) printf(" %.9g", logits[j]);
            printf(" %lld\n", began);
        }
    }
    free(data);
    return 0;
}
"""

FIRMWARE = r"""/* Minimal Cortex-M4 firmware: links the model with newlib-nano to measure flash and RAM. */
#include "HEADER"

int main(void)
{
    float logits[FW_NUM_LABELS];
#if FW_PAIR
    return fw_predict_pair("a fine film", "a good film", logits);
#else
    return fw_predict("a fine film", logits);
#endif
}
"""


class BuildError(RuntimeError):
    """A compiler or the built program failed; the message holds its output."""


def _export_sources(export_dir) -> tuple[Path, Path, str]:
    import json

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


def _with_prefix(code: str, prefix: str, header: Path) -> str:
    return code.replace("HEADER", header.name).replace("fw_", f"{prefix}_").replace("FW_", f"{prefix.upper()}_")


def host_compiler() -> str:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise BuildError("No C compiler (gcc or cc) on PATH; install gcc to build the host harness.")
    return compiler


def build_host(export_dir, work_dir=None, flags=HOST_FLAGS) -> tuple[Path, str]:
    """Compile the export with the host harness; returns (executable, compiler warnings)."""
    source, header, prefix = _export_sources(export_dir)
    work = Path(work_dir or tempfile.mkdtemp(prefix="fw-host-"))
    work.mkdir(parents=True, exist_ok=True)
    harness = work / "harness.c"
    harness.write_text(_with_prefix(HARNESS, prefix, header))
    exe = work / "fw_host"
    compiler = host_compiler()
    model = _run([compiler, *flags, "-c", source, "-o", work / "model.o"], "Compiling the model")
    _run([compiler, *flags, "-I", header.parent, "-c", harness, "-o", work / "harness.o"], "Compiling the harness")
    _run([compiler, work / "model.o", work / "harness.o", "-lm", "-o", exe], "Linking the harness")
    return exe, model.stderr


def _records_file(records: list[str], work: Path) -> Path:
    path = work / "records.bin"
    path.write_bytes(b"".join(text.encode("utf-8") + b"\0" for text in records))
    return path


def run_tokens(exe, texts: list[str]) -> list[np.ndarray]:
    """Token ids the C tokenizer gives each text, each (T, C) int64."""
    if any("\0" in text for text in texts):
        raise ValueError("Texts passed to the C harness must not contain NUL characters.")
    exe = Path(exe)
    out = _run([exe, "tokens", _records_file(texts, exe.parent)], "The C tokenizer").stdout.splitlines()
    result = []
    for line in out:
        numbers = [int(v) for v in line.split()]
        n, ids = numbers[0], numbers[1:]
        result.append(np.asarray(ids, dtype=np.int64).reshape(n, -1 if n else 1))
    return result


def run_logits(exe, texts: list[str], texts_b: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, L) float32, nanoseconds per text (N,)) from the C model on the host."""
    exe = Path(exe)
    records = list(texts) if texts_b is None else [t for pair in zip(texts, texts_b) for t in pair]
    if any("\0" in text for text in records):
        raise ValueError("Texts passed to the C harness must not contain NUL characters.")
    lines = _run([exe, "logits", _records_file(records, exe.parent)], "The C model").stdout.splitlines()
    rows = [line.split() for line in lines]
    logits = np.asarray([[float(v) for v in row[1:-1]] for row in rows], dtype=np.float32)
    nanoseconds = np.asarray([int(row[-1]) for row in rows], dtype=np.int64)
    return logits, nanoseconds


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
    firmware.write_text(_with_prefix(FIRMWARE, prefix, header))
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
