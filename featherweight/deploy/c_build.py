"""Compile an exported C model with gcc (host) or arm-none-eabi-gcc (Cortex-M4); run it and read its size.

The host harness reads records (a 4-byte little-endian length, then that many bytes: any bytes, NUL and
ill-formed UTF-8 included) and prints, per text (per pair for pair models), the token ids (`tokens`),
the label, logits and nanoseconds taken (`logits`), or the codepoints of the C UTF-8 decoder
(`codepoints`). It includes the model source, so it reaches the decoder, a static function.
The Cortex-M4 build compiles the model object alone and a minimal firmware that calls it
(newlib-nano, no OS), and reads flash (text + data) and RAM (data + bss) with arm-none-eabi-size.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic")
SANITIZER_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")
CORTEX_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99", "-Os",
                   "-Wall", "-Wextra", "-pedantic", "-ffunction-sections", "-fdata-sections", "-fstack-usage")
ARM_GCC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
ARM_MISSING = (f"{ARM_GCC} not found: install the Debian/Ubuntu package gcc-arm-none-eabi "
               "(apt-get install -y gcc-arm-none-eabi) to cross-compile for Cortex-M4.")

HARNESS = r"""/* Host test harness for an exported Featherweight model (not part of the export). */
#define _POSIX_C_SOURCE 199309L
#include "MODEL_SOURCE"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static fw_id_t ids[FW_MAX_TOKENS * FW_IDS_PER_TOKEN];

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The next record of [*p, end) into (*text, *len); 0 when none is left, -1 when the file is cut. */
static int next_record(const unsigned char **p, const unsigned char *end, const char **text, size_t *len)
{
    size_t n;
    if (*p == end) return 0;
    if (end - *p < 4) return -1;
    n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8 | (size_t)(*p)[2] << 16 | (size_t)(*p)[3] << 24;
    *p += 4;
    if ((size_t)(end - *p) < n) return -1;
    *text = (const char *)*p; *len = n; *p += n;
    return 1;
}

static int run(const char *a, size_t len_a, const char *b, size_t len_b, float *logits)
{
#if FW_PAIR
    return fw_predict_pair_n(a, len_a, b, len_b, logits);
#else
    (void)b; (void)len_b;
    return fw_predict_n(a, len_a, logits);
#endif
}

static void print_codepoints(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    uint32_t c;
    while ((c = fw_utf8_next(&p, end)) != FW_TEXT_END) printf(" %lu", (unsigned long)c);
    printf("\n");
}

int main(int argc, char **argv)
{
    FILE *file;
    unsigned char *data;
    const unsigned char *p, *end;
    const char *a = "", *b = "";
    size_t len_a = 0, len_b = 0;
    long size;
    float logits[FW_NUM_LABELS];
    int mode, j, got;
    mode = argc != 3 ? -1 : !strcmp(argv[1], "tokens") ? 0 : !strcmp(argv[1], "logits") ? 1
         : !strcmp(argv[1], "codepoints") ? 2 : -1;
    if (mode < 0) { fprintf(stderr, "usage: %s tokens|logits|codepoints RECORDS_FILE\n", argv[0]); return 2; }
    file = fopen(argv[2], "rb");
    if (!file) { perror(argv[2]); return 2; }
    fseek(file, 0, SEEK_END); size = ftell(file); fseek(file, 0, SEEK_SET);
    data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, file) != (size_t)size) { fprintf(stderr, "read failed\n"); return 2; }
    fclose(file);
    end = data + size;
    p = data;
    if (mode == 1 && next_record(&p, end, &a, &len_a) == 1) run(a, len_a, a, len_a, logits);  /* warm up */
    for (p = data; (got = next_record(&p, end, &a, &len_a)) == 1; ) {
        if (mode == 0) {
            int n = fw_tokenize_n(a, len_a, ids);
            printf("%d", n);
            for (j = 0; j < n * FW_IDS_PER_TOKEN; j++) printf(" %lu", (unsigned long)ids[j]);
            printf("\n");
        } else if (mode == 1) {
            long long began;
            int label;
            if (FW_PAIR && next_record(&p, end, &b, &len_b) != 1) { got = -1; break; }
            began = now_ns();
            label = run(a, len_a, b, len_b, logits);
            began = now_ns() - began;
            printf("%d", label);
            for (j = 0; j < FW_NUM_LABELS; j++) printf(" %.9g", logits[j]);
            printf(" %lld\n", began);
        } else {
            print_codepoints(a, len_a);
        }
    }
    free(data);
    if (got < 0) { fprintf(stderr, "%s: a record is cut short\n", argv[2]); return 2; }
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


def _with_prefix(code: str, prefix: str, header: Path, source: Path | None = None) -> str:
    code = code.replace("HEADER", header.name).replace("MODEL_SOURCE", source.name if source else "")
    return code.replace("fw_", f"{prefix}_").replace("FW_", f"{prefix.upper()}_")


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
    harness.write_text(_with_prefix(HARNESS, prefix, header, source))
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
