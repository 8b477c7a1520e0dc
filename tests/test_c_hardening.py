"""The C export, hardened: Unicode-exact UTF-8 decoding with explicit lengths, BPE buffers of any size, vectorisable
kernels with the same bits at every optimisation level, sanitizer-clean runs, Cortex-M4 flash/RAM in the export."""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess

import numpy as np
import pytest

from featherweight.artifact import load_student
from featherweight.cli import main
from featherweight.deploy import ExportConfig, export
from featherweight.deploy import c_build
from featherweight.deploy.golden import read_golden
from featherweight.deploy.reference_tokenizer import PortableTokenizer
from featherweight.deploy.weights import int8_reference_model
from featherweight.tokens import encode_texts
from conftest import CHECK_TEXTS, torch_logits

pytestmark = [pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                 reason="no host C compiler (gcc) on PATH"),
              pytest.mark.usefixtures("one_thread")]

C_LOGIT_ATOL = 1e-4  # as in test_export_c.py
# Unicode 15 Table 3-7 edges, each well-formed or not, and the ways a sequence goes wrong
CRAFTED = [b"\x00", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xee\x80\x80",
           b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",  # well-formed edges
           b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x80\x80\x80",  # overlong
           b"\xf0\x8f\xbf\xbf",
           b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\x80\xed\xb0\x80",  # surrogates, and a surrogate pair
           b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xff", b"\xfe",
           b"\xe2\x82", b"\xf0\x9f\x98", b"\xe2\x82a", b"\xf0\x9f\x98 ok", b"\xc3", b"a\xc3",  # cut
           b"\x80", b"\xbf", b"\x80\x80\x80", b"a\x80b", b"\xe2\x82\xac\x80"]  # stray continuation bytes


def random_bytes(n: int, seed: int = 0) -> list[bytes]:
    """n seeded byte strings of 1-12 bytes, mostly from the bytes where UTF-8 goes wrong."""
    rng = np.random.default_rng(seed)
    pools = [np.arange(0x00, 0x80), np.arange(0x80, 0xC0), np.arange(0xC0, 0x100)]
    return [bytes(int(rng.choice(pools[rng.integers(3)])) for _ in range(rng.integers(1, 13))) for _ in range(n)]


def build(directory, tmp_path, name="build", flags=None):
    """Export `directory` as C into tmp_path/c (once) and build its host harness with `flags`."""
    if not (tmp_path / "c" / "export.json").is_file():
        export(ExportConfig(model=str(directory), output=str(tmp_path / "c"), format="c", verify=False))
    return c_build.build_host(tmp_path / "c", tmp_path / name, flags=flags)[0]


def replaced(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def test_c_decoder_reads_what_python_reads_with_replacement(students, tmp_path):
    """On crafted and random bytes the C decoder gives bytes.decode("utf-8", "replace"): U+FFFD per maximal subpart."""
    exe = build(students("ffn", "char"), tmp_path)
    records = CRAFTED + [b"".join(CRAFTED)] + random_bytes(400)
    for data, codepoints in zip(records, c_build.run_codepoints(exe, records), strict=True):
        assert codepoints == [ord(ch) for ch in replaced(data)], data


def test_an_overlong_nul_no_longer_ends_the_text(students, tmp_path):
    """`good \\xc0\\x80 film bad bad bad` is read whole: two U+FFFD, then the rest, and gets the reference logits."""
    directory = students("ffn", "hash")
    exe = build(directory, tmp_path)
    text = b"good \xc0\x80 film bad bad bad"
    (ids,) = c_build.run_tokens(exe, [text])
    assert len(ids) == 6  # good, the two U+FFFD as one word, film, bad, bad, bad
    np.testing.assert_array_equal(ids, PortableTokenizer.load(tmp_path / "c" / "tokenizer").encode(replaced(text)))
    student = load_student(directory)
    logits, _ = c_build.run_logits(exe, [text])
    reference = torch_logits(int8_reference_model(student), encode_texts(student.tokenizer, [replaced(text)])
                             .batch(np.arange(1)).numpy())
    np.testing.assert_allclose(logits, reference, atol=C_LOGIT_ATOL)


@pytest.mark.parametrize("embedding", ["hash", "char", "bpe"])
def test_c_tokens_equal_the_portable_tokenizer_on_nul_and_ill_formed_bytes(embedding, students, tmp_path):
    """NUL is a character like any other, and ill-formed bytes tokenize as their U+FFFD replacement does in Python."""
    exe = build(students("ffn", embedding), tmp_path)
    port = PortableTokenizer.load(tmp_path / "c" / "tokenizer")
    texts = [b"good\x00film", b"\x00", b"a \x00 b", b"bad \xed\xa0\x80 film", b"caf\xc3\xa9 \xc3 na\xefve",
             "Ünïcödé ﬁne — “film” 😀‍👍 ｆｕｌｌ".encode(), *CRAFTED, *random_bytes(100, seed=1)]
    for data, ids in zip(texts, c_build.run_tokens(exe, texts), strict=True):
        np.testing.assert_array_equal(ids, port.encode(replaced(data)), err_msg=repr(data))


def test_nul_terminated_wrappers_stop_at_nul_and_the_length_functions_do_not(students, tmp_path):
    """fw_tokenize (a C string) ends at the first NUL; fw_tokenize_n reads every one of its `len` bytes."""
    export(ExportConfig(model=str(students("ffn", "hash")), output=str(tmp_path / "c"), format="c", verify=False))
    program = tmp_path / "main.c"
    program.write_text('#include <stdio.h>\n#include "fw_model.h"\n'
                       "int main(void) { static fw_id_t ids[FW_MAX_TOKENS * FW_IDS_PER_TOKEN];\n"
                       "  float logits[FW_NUM_LABELS];\n"
                       '  printf("%d %d %d\\n", fw_tokenize("good\\0bad film", ids), '
                       'fw_tokenize_n("good\\0bad film", 13, ids), fw_predict_n("good\\0bad", 8, logits) >= 0);\n'
                       "  return 0; }\n")
    subprocess.run([c_build.host_compiler(), *c_build.HOST_FLAGS, "-Werror", "-I", tmp_path / "c", program,
                    tmp_path / "c" / "fw_model.c", "-lm", "-o", tmp_path / "main"], check=True)
    out = subprocess.run([tmp_path / "main"], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["1", "2", "1"]  # "good"; "good\0bad" (one word) and "film"


def test_a_bpe_buffer_beyond_16_bit_offsets_merges_a_long_word_under_sanitizers(students, tmp_path):
    """FW_BPE_MAX_SYMBOLS 20000 (word bytes 80000): a 68,000-byte word is merged in bounds, as the Python port does."""
    reason = c_build.host_sanitizers()
    if reason is not None:
        pytest.skip(f"the host compiler cannot build with {' '.join(c_build.SANITIZER_FLAGS)}: {reason}")
    flags = (*c_build.HOST_FLAGS, *c_build.SANITIZER_FLAGS, "-DFW_BPE_MAX_SYMBOLS=20000",
             "-DFW_BPE_MAX_WORD_BYTES=80000")
    exe = build(students("ffn", "bpe"), tmp_path, "asan", flags)
    word = "\U0001F600" * 17_000 + "ab" * 40 + " the film"  # 4-byte codepoints: byte offsets past 65535
    (ids,) = c_build.run_tokens(exe, [word])
    np.testing.assert_array_equal(ids, PortableTokenizer.load(tmp_path / "c" / "tokenizer").encode(word))


def test_a_bpe_word_buffer_below_one_codepoint_fails_the_build_with_a_clear_error(students, tmp_path):
    """-DFW_BPE_MAX_WORD_BYTES=2 stops the build with an #error naming the macro, not a silent overflow."""
    with pytest.raises(c_build.BuildError, match="FW_BPE_MAX_WORD_BYTES must be at least 4"):
        build(students("ffn", "bpe"), tmp_path, flags=(*c_build.HOST_FLAGS, "-DFW_BPE_MAX_WORD_BYTES=2"))


@pytest.mark.parametrize("arch,embedding,options", [
    ("bilstm", "bpe", {}), ("rnn", "char", {}), ("ffn", "hash", {"word_ngrams": 2}),
    ("bilstm", "hash", {"pair": True})])
def test_golden_and_hostile_texts_run_clean_under_sanitizers(arch, embedding, options, students, tmp_path):
    """Under ASan + UBSan (any report aborts) the golden sentences and hostile bytes give the plain build's logits."""
    reason = c_build.host_sanitizers()
    if reason is not None:
        pytest.skip(f"the host compiler cannot build with {' '.join(c_build.SANITIZER_FLAGS)}: {reason}")
    directory = students(arch, embedding, **options)
    plain = build(directory, tmp_path)
    sanitized = build(directory, tmp_path, "asan", (*c_build.host_flags(), *c_build.SANITIZER_FLAGS))
    texts = [row["text"] for row in read_golden(tmp_path / "c")] + CHECK_TEXTS + CRAFTED + [
        "x" * 5000, "\U0001F600" * 300, "word " * 3000, b"\xf0\x9f\x98" * 100]
    pairs = texts[::-1] if options.get("pair") else None
    for exe in (plain, sanitized):
        c_build.run_tokens(exe, texts)
    np.testing.assert_array_equal(c_build.run_logits(sanitized, texts, pairs)[0],
                                  c_build.run_logits(plain, texts, pairs)[0])


@pytest.mark.parametrize("arch,embedding", [("bilstm", "bpe"), ("rnn", "char"), ("ffn", "hash")])
def test_logits_are_the_same_bits_at_every_optimisation_level(arch, embedding, students, tmp_path):
    """-O0, -O2 and -O3 -march=native builds give bit-identical logits: vectorising reorders no sum."""
    directory = students(arch, embedding)
    builds = [build(directory, tmp_path, "O0", ("-std=c99", "-O0")),
              build(directory, tmp_path, "O2", c_build.HOST_FLAGS),
              build(directory, tmp_path, "O3", ("-std=c99", "-O3", *c_build.host_flags()[len(c_build.HOST_FLAGS):]))]
    texts = CHECK_TEXTS + [row["text"] for row in read_golden(tmp_path / "c")]
    first, *others = [c_build.run_logits(exe, texts)[0] for exe in builds]
    for logits in others:
        np.testing.assert_array_equal(logits, first)


def test_gcc_vectorises_the_matrix_kernel_at_o2(students, tmp_path):
    """gcc -O2 (no -ffast-math) reports both constant-width panel loops of fw_matvec_add as vectorised."""
    compiler = c_build.host_compiler()
    if "Free Software Foundation" not in subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout:
        pytest.skip(f"{compiler} is not gcc: -fopt-info-vec is a gcc option")
    export(ExportConfig(model=str(students("bilstm", "char")), output=str(tmp_path / "c"), format="c", verify=False))
    source = tmp_path / "c" / "fw_model.c"
    report = subprocess.run([compiler, *c_build.HOST_FLAGS, "-fopt-info-vec-optimized", "-c", source, "-o",
                             tmp_path / "model.o"], capture_output=True, text=True, check=True).stderr
    lines = source.read_text().splitlines()
    for call in ("FW_PANEL_SUMS(FW_PANEL)", "FW_PANEL_SUMS(FW_PANEL_SMALL)"):
        number = next(i + 1 for i, line in enumerate(lines) if call in line)
        assert re.search(rf"fw_model\.c:{number}:\d+: optimized: loop vectorized", report), (call, report)


def export_cli(directory, tmp_path, capsys) -> dict:
    """`featherweight export --format c` through the CLI; returns the JSON it prints."""
    capsys.readouterr()
    assert main(["export", "--model", str(directory), "--output", str(tmp_path / "c"), "--format", "c",
                 "--no-verify", "--no-record"]) == 0
    return json.loads(capsys.readouterr().out)


def test_c_export_reports_cortex_m4_flash_and_ram(students, tmp_path, capsys, caplog):
    """With arm-none-eabi-gcc the export's result, export.json and log give the Cortex-M4 flash and RAM."""
    if not c_build.have_arm_toolchain():
        pytest.skip(c_build.ARM_MISSING)
    caplog.set_level(logging.INFO)
    result = export_cli(students("ffn", "hash"), tmp_path, capsys)
    size = result["cortex_m4"]
    assert size["measured"] and size["flash_bytes"] > size["model_flash_bytes"] >= result["bytes"]["int8_weights"]
    assert 0 < size["model_ram_bytes"] <= size["ram_bytes"]
    assert json.loads((tmp_path / "c" / "export.json").read_text())["cortex_m4"] == size
    assert f"Cortex-M4 flash {size['flash_bytes']} bytes, RAM {size['ram_bytes']} bytes" in caplog.text


def test_c_export_says_cortex_m4_is_not_measured_without_the_toolchain(students, tmp_path, capsys, caplog,
                                                                       monkeypatch):
    """Without arm-none-eabi-gcc on PATH the export says so in its result and log, and still succeeds."""
    real_which = shutil.which
    monkeypatch.setattr(c_build.shutil, "which", lambda name: None if name.startswith("arm-none-eabi") else
                        real_which(name))
    caplog.set_level(logging.INFO)
    result = export_cli(students("ffn", "hash"), tmp_path, capsys)
    assert result["cortex_m4"] == {"measured": False, "reason": "not measured: arm-none-eabi-gcc not found"}
    assert "Cortex-M4 flash/RAM not measured: arm-none-eabi-gcc not found" in caplog.text
