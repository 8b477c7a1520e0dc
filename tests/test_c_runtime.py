"""The C runtime as real C files: every variant the switches pick compiles as strict C99, and an export is the
runtime verbatim around generated data and #defines only."""
from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from featherweight.deploy import c_build, c_runtime
from featherweight.deploy.c_export import write_c
from featherweight.deploy.weights import QuantizedTensor
from featherweight.student_meta import EmbeddingMeta, StudentMeta
from featherweight.students.config import StudentConfig

pytestmark = [pytest.mark.slow,  # compiles C
              pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                 reason="no host C compiler (gcc) on PATH")]

LINT_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
DIM, HIDDEN, CLASSIFIER, LABELS = 6, 5, 7, 3
# The switches in two groups that share no code: storage (which helpers exist: tokenizer, hash function, table and
# importance storage, b-bit matrices) and network (encoder, classifier, pooling, pair).
TOKENIZERS = ("hash-murmur", "hash-fnv", "char", "bpe")
TABLES = ("int8", "int8-affine", "int4", "pq")
IMPORTANCE = ("float16", "int2")  # hash embeddings only
MATRIX_BITS = (8, 4)
STORAGE = [(tokenizer, table, importance, bits) for tokenizer in TOKENIZERS for table in TABLES
           for importance in (IMPORTANCE if tokenizer.startswith("hash") else IMPORTANCE[:1]) for bits in MATRIX_BITS]
# every student an export can meet (an FFN pools by mean or max: StudentConfig refuses "last" for it)
NETWORK = [(arch, hidden, pooling, pair) for arch, hidden, pooling, pair in itertools.product(
    ("ffn", "rnn", "bilstm"), (0, CLASSIFIER), ("last", "max", "mean"), (False, True))
    if not (arch == "ffn" and pooling == "last")]


def tiny_port(tokenizer: str) -> dict:
    """A hand-made port.json of `tokenizer`: a few normalisation entries (one above U+FFFF), tiny tables."""
    port = {"version": 1, "type": tokenizer.split("-")[0], "max_length": 16, "ids_per_token": 1,
            "normalize_runs": [[0x41, 26, 1, 0, 0x61]], "normalize_irregular": [[0xC5, [0x61, 0x30A]],
                                                                                [0x1D400, [0x61]]]}
    if tokenizer.startswith("hash"):
        port["hash"] = {"function": "fnv1a_32" if tokenizer == "hash-fnv" else "murmur3_32", "seed": 3,
                        "num_hashes": 2, "num_components": 9, "num_buckets": 11, "split_punctuation": True,
                        "word_ngrams": 2}
        port["ids_per_token"] = 6
    elif tokenizer == "char":
        port["char"] = {"alphabet": [ord(ch) for ch in " abcdefgh"]}
    else:
        port["bpe"] = {"add_dummy_prefix": True, "remove_extra_whitespaces": True, "unknown_id": 1,
                       "pieces": [["a", 2, 2], ["b", 3, 3], ["\u2581", 4, 4], ["\u2581a", 0, 5], ["ab", 1, 6]]}
    return port


def int8_rows(rng, shape: tuple, bits: int = 8) -> QuantizedTensor:
    """Random symmetric b-bit rows with a scale per row (float16 values below 8 bits, as artifacts store them)."""
    top = (1 << (bits - 1)) - 1
    scales = rng.uniform(0.01, 0.1, size=shape[0]).astype(np.float32)
    return QuantizedTensor(rng.integers(-top, top + 1, size=shape).astype(np.int8),
                           scales.astype(np.float16).astype(np.float32) if bits < 8 else scales, bits=bits)


def embedding_table(rng, storage: str, shape: tuple) -> QuantizedTensor:
    """A random embedding table stored as `storage`: int8 (symmetric or affine), 4-bit rows or a 4-bit PQ table."""
    if storage in ("int8", "int4"):
        return int8_rows(rng, shape, int(storage[3]))
    if storage == "int8-affine":
        rows = int8_rows(rng, shape)
        return QuantizedTensor(rows.values, rows.scales, zero_points=rng.uniform(-2, 2, size=shape[0]))
    bits, width = 4, 4
    subspaces = -(-shape[1] // width)  # the last sub-vector is cut to the table's width
    codebooks = rng.integers(-127, 128, size=(subspaces, 1 << bits, width)).astype(np.int8)
    codes = rng.integers(0, 1 << bits, size=(shape[0], subspaces))
    values = np.concatenate([codebooks[s, codes[:, s]] for s in range(subspaces)], axis=1)[:, :shape[1]]
    return QuantizedTensor(values, np.full(shape[0], 0.05, np.float32), pq=(codes, codebooks, bits))


def importance_weights(rng, storage: str, shape: tuple):
    """Random hash importance weights: float16, or 2-bit codes with one scale."""
    if storage == "float16":
        return rng.uniform(-1, 1, size=shape).astype(np.float16)
    return QuantizedTensor(rng.integers(-1, 2, size=shape).astype(np.int8), np.full(shape[0], 0.25, np.float32),
                           bits=2, per_tensor=True)


def variant(storage: tuple, network: tuple, seed: int = 0) -> tuple[dict, dict, dict]:
    """(meta, weights, port) of a random tiny model with these switches."""
    (tokenizer, table, importance, bits), (arch, hidden, pooling, pair) = storage, network
    rng, port = np.random.default_rng(seed), tiny_port(tokenizer)
    weights = {}
    if port["type"] == "hash":
        h = port["hash"]
        weights["embedding.components.weight"] = embedding_table(rng, table, (h["num_components"] + 1, DIM))
        weights["embedding.importance.weight"] = importance_weights(rng, importance,
                                                                    (h["num_buckets"] + 1, h["num_hashes"]))
    else:
        rows = len(port["char"]["alphabet"]) + 2 if port["type"] == "char" else 7
        weights["embedding.table.weight"] = embedding_table(rng, table, (rows, DIM))
    sentence = DIM
    if arch != "ffn":
        gates = 4 if arch == "bilstm" else 1
        for suffix in ("", "_reverse"):
            weights[f"encoder.rnn.weight_ih_l0{suffix}"] = int8_rows(rng, (gates * HIDDEN, DIM), bits)
            weights[f"encoder.rnn.weight_hh_l0{suffix}"] = int8_rows(rng, (gates * HIDDEN, HIDDEN), bits)
            for kind in ("ih", "hh"):
                weights[f"encoder.rnn.bias_{kind}_l0{suffix}"] = rng.normal(size=gates * HIDDEN).astype(np.float32)
        sentence = 2 * HIDDEN
    features = 4 * sentence if pair else sentence
    layers = [(features, hidden), (hidden, LABELS)] if hidden else [(features, LABELS)]
    for index, (fan_in, fan_out) in enumerate(layers):
        weights[f"classifier.{2 * index}.weight"] = int8_rows(rng, (fan_out, fan_in), bits)
        weights[f"classifier.{2 * index}.bias"] = rng.normal(size=fan_out).astype(np.float32)
    meta = StudentMeta(task="toy", label_names=["neg", "neutral?", "pos"], pair=pair, num_labels=LABELS,
                       student=StudentConfig(arch=arch, pooling=pooling, hidden_dim=0 if arch == "ffn" else HIDDEN,
                                             classifier_dim=hidden),
                       embedding=EmbeddingMeta(type=port["type"], dim=DIM))
    return meta, weights, port


def lint(variants: list, tmp_path, flags: tuple = ()) -> None:
    """Export every (storage, network) variant and compile it with LINT_FLAGS + `flags`; fails with the
    compiler's output of each variant that does not compile cleanly."""
    sources = []
    for index, (storage, network) in enumerate(variants):
        source, _ = write_c(*variant(storage, network, seed=index), tmp_path / f"v{index}")
        sources.append(source)

    def compile_one(source):
        return subprocess.run([c_build.host_compiler(), *LINT_FLAGS, *flags, "-c", source, "-o",
                               source.with_suffix(".o")], capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(compile_one, sources))
    failures = [f"{variants[i]}:\n{result.stderr[-2000:]}" for i, result in enumerate(results)
                if result.returncode != 0 or result.stderr]
    assert not failures, "\n".join(failures[:5])


def test_every_storage_variant_compiles_as_strict_c99_with_every_network_variant_among_them(tmp_path):
    """Every combination of the storage switches (each with a network combination, cycling through all of them)
    compiles with -std=c99 -Wall -Wextra -Werror -pedantic at -O2, and at -Os (its own kernel) with b-bit matrices."""
    variants = [(storage, NETWORK[index % len(NETWORK)]) for index, storage in enumerate(STORAGE)]
    lint(variants, tmp_path / "O2", ("-O2",))
    lint([v for v in variants if v[0][3] < 8], tmp_path / "Os", ("-Os",))


def test_every_network_variant_compiles_as_strict_c99(tmp_path):
    """Every combination of the network switches (encoder, classifier hidden layer, pooling, pair) compiles with
    -std=c99 -Wall -Wextra -Werror -pedantic, on int8 and on b-bit matrices."""
    variants = [(STORAGE[index % len(STORAGE)], network) for index, network in enumerate(NETWORK)]
    lint(variants, tmp_path, ("-O2",))


@pytest.mark.skipif(not c_build.have_arm_toolchain(), reason=c_build.ARM_MISSING)
def test_storage_variants_with_bbit_matrices_compile_as_strict_c99_for_cortex_m4(tmp_path):
    """Every storage combination with b-bit matrices (the -Os kernel) cross-compiles for Cortex-M4 with -Werror."""
    variants = [(storage, NETWORK[index % len(NETWORK)]) for index, storage in enumerate(STORAGE) if storage[3] < 8]
    for index, (storage, network) in enumerate(variants):
        source, _ = write_c(*variant(storage, network, seed=index), tmp_path / f"v{index}")
        result = subprocess.run([c_build.ARM_GCC, *c_build.CORTEX_M4_FLAGS, "-Werror", "-c", source, "-o",
                                 source.with_suffix(".o")], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0 and not result.stderr, (storage, network, result.stderr)


def test_the_export_is_the_runtime_verbatim_around_generated_data_and_defines(tmp_path):
    """fw_model.c holds fw_runtime.h and the code files verbatim, fw_model.h holds fw_api.h; what Python generates
    besides is #defines, typedefs and tables: no C code."""
    source_path, header_path = write_c(*variant(STORAGE[0], NETWORK[-1]), tmp_path)
    source, header = source_path.read_text(), header_path.read_text()
    assert c_runtime.read(c_runtime.API_HEADER) in header
    for name in (c_runtime.RUNTIME_HEADER, *c_runtime.CODE_FILES):
        assert c_runtime.read(name) in source, name
    generated = c_runtime.generated_part(source)
    code = [line for line in re.sub(r"/\*.*?\*/", "", generated, flags=re.S).splitlines()
            if line.strip() and not line.startswith("#")]
    assert code and not [line for line in code if "(" in line], code
