"""The run-encoded normalisation table: lossless over all of Unicode, read alike by the Python and C ports."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from featherweight.embeddings import fit_tokenizer
from featherweight.embeddings.text import normalize
from featherweight.deploy import ExportConfig, c_build, export
from featherweight.deploy.reference_tokenizer import PortableTokenizer, decode_runs
from featherweight.deploy.tokenizer_port import (HANGUL_SYLLABLES, _changed, _folded, _known_characters,
                                                 _normalisation, _sentencepiece_charsmap, build_port, encode_runs)
from conftest import TRAIN_TEXTS, make_student

OPTIONS = {"hash": {"num_buckets": 200}, "char": {}, "bpe": {"download": False}}
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                               reason="no host C compiler (gcc) on PATH")


def fit(kind: str, tmp_path):
    return fit_tokenizer(kind, TRAIN_TEXTS, dim=8, seed=0, cache_dir=str(tmp_path), **OPTIONS[kind])


def full_mapping(tokenizer) -> dict:
    """{codepoint: normalised codepoints} of every covered codepoint, one by one, before any run encoding."""
    spec = tokenizer.spec
    if spec.type == "bpe":
        charsmap = _sentencepiece_charsmap(tokenizer)
        mapping = lambda text: charsmap(normalize(text, spec.unicode_form, spec.lowercase, spec.digits_to_zero))
    else:
        mapping = lambda text: normalize(text, spec.unicode_form, spec.lowercase)
    return {ord(c): tuple(map(ord, out)) for c, out in _folded(_changed(mapping), _known_characters(tokenizer))
            if not (spec.type == "char" and ord(c) in HANGUL_SYLLABLES)}


@pytest.mark.parametrize("kind", ["hash", "char", "bpe"])
def test_run_encoded_table_decodes_to_the_per_codepoint_mapping_everywhere(kind, tmp_path):
    """For every codepoint 0..U+10FFFF but the surrogates, the port's table gives the one-by-one normalisation."""
    tokenizer = fit(kind, tmp_path)
    port = build_port(tokenizer)
    assert "normalize" not in port  # a reader from before runs fails instead of ignoring them
    table = PortableTokenizer(port).table
    expected = full_mapping(tokenizer)
    for cp in [*range(0xD800), *range(0xE000, 0x110000)]:
        assert table.get(cp, (cp,)) == expected.get(cp, (cp,)), hex(cp)
    runs = port["normalize_runs"]
    irregular_singles = [cp for cp, out in port["normalize_irregular"] if len(out) == 1]
    assert sum(count for _, count, _, _, _ in runs) > 2 * len(irregular_singles)  # one-codepoint maps: mostly runs


def test_runs_cover_case_pairs_and_leave_irregular_entries_apart():
    """A-Z is one run, alternating pairs one stride-2 run, expansions and odd entries stay irregular."""
    table = sorted([*((cp, (cp + 32,)) for cp in range(0x41, 0x5B)),  # A-Z -> a-z
                    *((cp, (cp + 1,)) for cp in range(0x100, 0x110, 2)),  # Ā -> ā ...
                    (0x105, (0x41,)),  # between two members of the stride-2 run
                    (0xFB00, (0x66, 0x66)),  # ﬀ -> ff
                    (0xFFFF, (0x61,)), (0x10000, (0x62,))])  # a run never crosses a plane
    runs, irregular = encode_runs(table)
    assert runs == [[0x41, 26, 1, 1, 0x61], [0x100, 8, 2, 2, 0x101]]
    assert irregular == [(0x105, (0x41,)), (0xFB00, (0x66, 0x66)), (0xFFFF, (0x61,)), (0x10000, (0x62,))]
    assert decode_runs(runs, irregular) == dict(table)


def test_a_port_from_before_runs_still_loads(tmp_path):
    """port.json with the per-codepoint `normalize` list (before runs) tokenises as the run-encoded one."""
    port = build_port(fit("hash", tmp_path))
    table = decode_runs(port["normalize_runs"], port["normalize_irregular"])
    old = {key: value for key, value in port.items() if key not in ("normalize_runs", "normalize_irregular")}
    old["normalize"] = [[cp, list(out)] for cp, out in sorted(table.items())]
    text = "ＦＵＬＬ width 𝐁𝐨𝐥𝐝 ﬁne Ĳssel ÀÉÎ ㈱"
    np.testing.assert_array_equal(PortableTokenizer(old).encode(text), PortableTokenizer(port).encode(text))


def test_the_table_is_built_once_per_tokenizer_settings(tmp_path):
    """A second port for the same settings reuses the table instead of sweeping Unicode again."""
    tokenizer = fit("hash", tmp_path)
    build_port(tokenizer)
    hits = _normalisation.cache_info().hits
    assert build_port(tokenizer)["normalize_runs"] and _normalisation.cache_info().hits == hits + 1


@needs_gcc
@pytest.mark.parametrize("kind", ["hash", "bpe"])
def test_c_normalises_every_table_entry_as_the_portable_tokenizer(kind, tmp_path):
    """Each codepoint of the table (runs, UTF-16 expansions, astral keys) alone gives the C and Python ids."""
    directory = make_student(tmp_path / "student", "ffn", kind)
    export(ExportConfig(model=str(directory), output=str(tmp_path / "c"), format="c", verify=False))
    exe, _ = c_build.build_host(tmp_path / "c", tmp_path / "build")
    port = PortableTokenizer.load(tmp_path / "c" / "tokenizer")
    texts = [f"x{chr(cp)}y" for cp in sorted(port.table)]
    for text, ids in zip(texts, c_build.run_tokens(exe, texts), strict=True):
        np.testing.assert_array_equal(ids, port.encode(text), err_msg=repr(text))
