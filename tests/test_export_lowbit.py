"""Sub-8-bit students (4- and 2-bit rows, product-quantized tables, b-bit hash importance) in every export format.

ONNX (fp32 and the int8 `weights` graph) carries their exact int8 views; C stores them at their real width
(packed codes, PQ codes and codebooks) and must compute the quantized PyTorch model's logits all the same.
"""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from conftest import make_sentences, tiny_student
from featherweight.artifact import load_student, save_student
from featherweight.deploy import ExportConfig, c_build, c_runtime, export
from featherweight.deploy.c_export import write_c
from featherweight.deploy.runtime import ort_logits, ort_session
from featherweight.deploy.tokenizer_port import build_port
from featherweight.deploy.weights import QuantizedTensor, int8_bytes, int8_weights
from featherweight.deploy.predict import load
from featherweight.compression.quantize import QuantizeConfig, quantize
from featherweight.tokens import encode_texts

TEXTS = make_sentences(30, seed=7)[0] + ["", "good", "a " * 300, "It's NOT bad -- 3.5/5, ok?", "Ångström ﬁne"]
ONNX_ATOL = 1e-5  # the exports run the artifact's own numbers: only float sums in another order differ
C_ATOL = 1e-4  # the stated C tolerance (tests/test_export_c.py)
ALL_4BIT = {"embedding_quantization": "int4-row", "encoder_quantization": "int4-row",
            "classifier_quantization": "int4-row", "hash_importance_dtype": "int4"}
ALL_2BIT = {"embedding_quantization": "int2-row", "encoder_quantization": "int2-row",
            "classifier_quantization": "int2-row", "hash_importance_dtype": "int2"}
# (arch, embedding, QuantizeConfig settings, wide): every arch and embedding, 4- and 2-bit rows, PQ at 4 and 8 bits
# with 3-dim sub-vectors (the last of the 8 dims padded), b-bit importance, 8-bit parts beside low-bit ones. Wide
# students have matrices of 44 and 40 rows: panels of 32, 8 and 4 rows (tiny ones: 24, 8, 6 and 2).
CASES = {
    "bilstm-hash-int4": ("bilstm", "hash", ALL_4BIT, False),
    "rnn-char-pq4-int2": ("rnn", "char", {"embedding_quantization": "pq", "pq_bits": 4, "pq_subvector_dim": 3,
                                          "encoder_quantization": "int2-row", "classifier_quantization": "int2-row"},
                          False),
    "ffn-bpe-pq8-int4": ("ffn", "bpe", {"embedding_quantization": "pq", "pq_bits": 8, "pq_subvector_dim": 3,
                                        "classifier_quantization": "int4-row"}, False),
    "bilstm-bpe-int2": ("bilstm", "bpe", {"embedding_quantization": "int2-row", "encoder_quantization": "int4-row"},
                        False),
    "rnn-hash-pq8-int2-importance": ("rnn", "hash", {"embedding_quantization": "pq", "pq_bits": 8,
                                                     "pq_subvector_dim": 3, "hash_importance_dtype": "int2",
                                                     "encoder_quantization": "int4-row"}, False),
    "ffn-hash-pq4-int8-importance": ("ffn", "hash", {"embedding_quantization": "pq", "pq_bits": 4,
                                                     "pq_subvector_dim": 3, "hash_importance_dtype": "int8"}, False),
    "wide-bilstm-hash-int4": ("bilstm", "hash", ALL_4BIT, True),
    "wide-bilstm-char-int2": ("bilstm", "char", ALL_2BIT, True),
}
needs_compiler = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                    reason="no host C compiler (gcc) on PATH")

pytestmark = pytest.mark.usefixtures("one_thread")


def wide_student(arch: str, embedding: str, directory):
    """tiny_student with hidden 11 (44 LSTM gate rows) and a 40-wide classifier layer."""
    from featherweight.artifact import build_model
    from featherweight.students import student_preset

    _, tokenizer, meta = tiny_student(arch, embedding, directory)
    meta = dataclasses.replace(meta, student=student_preset(arch, classifier_dim=40, hidden_dim=11))
    torch.manual_seed(0)
    return build_model(meta, tokenizer).eval(), tokenizer, meta


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """Memoised: artifacts(arch, embedding, settings, wide) -> the saved quantized artifact of a seeded student."""
    made = {}

    def get(arch, embedding, settings, wide=False):
        key = (arch, embedding, tuple(sorted(settings.items())), wide)
        if key not in made:
            root = tmp_path_factory.mktemp(f"{arch}-{embedding}")
            model, tokenizer, meta = (wide_student if wide else tiny_student)(arch, embedding, root)
            config = QuantizeConfig(**settings)
            made[key] = root / "quantized"
            save_student(made[key], quantize(model, config), tokenizer,
                         dataclasses.replace(meta, variant="quantized", quantization=config.to_dict()))
        return made[key]

    return get


@pytest.fixture(scope="module")
def exports(artifacts, tmp_path_factory):
    """Memoised: exports(case, format) -> (artifact directory, export manifest, export directory)."""
    made = {}

    def get(case, fmt):
        if (case, fmt) not in made:
            directory = artifacts(*CASES[case])
            out = tmp_path_factory.mktemp(f"{case}-{fmt}") / fmt
            made[case, fmt] = directory, export(ExportConfig(model=str(directory), output=str(out), format=fmt)), out
        return made[case, fmt]

    return get


def quantized_logits(student, texts) -> np.ndarray:
    """The quantized artifact's own PyTorch logits on `texts`, one padded batch."""
    ids = encode_texts(student.tokenizer, texts).batch(np.arange(len(texts)))
    with torch.no_grad():
        return student.model(ids).numpy()


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
@pytest.mark.parametrize("case", list(CASES))
def test_onnx_exports_compute_the_lowbit_model(case, fmt, exports):
    """onnxruntime gives the quantized PyTorch model's logits on padded rows of all lengths, and the export's own
    parity checks (against the int8 reference and the artifact) pass."""
    directory, manifest, out = exports(case, fmt)
    student = load_student(directory)
    ids = encode_texts(student.tokenizer, TEXTS).batch(np.arange(len(TEXTS))).numpy()
    config = manifest.get("onnxruntime", {}).get("session_config")
    got = ort_logits(ort_session(out / "model.onnx", config_entries=config), (ids,))
    np.testing.assert_allclose(got, quantized_logits(student, TEXTS), atol=ONNX_ATOL, rtol=0)
    assert manifest["parity"]["max_abs_logit_diff"] <= ONNX_ATOL
    assert manifest["parity"]["quantized_model"]["max_abs_logit_diff"] <= ONNX_ATOL
    if fmt == "onnx-int8":  # every weight matrix and table is int8 in the graph, low-bit ones included
        quantized = [w for w in int8_weights(student).values() if isinstance(w, QuantizedTensor)]
        assert manifest["int8"]["parameters"]["int8"] == sum(w.values.size for w in quantized)


@pytest.mark.parametrize("case", ["bilstm-hash-int4", "rnn-char-pq4-int2"])
def test_predictor_gives_the_lowbit_model_labels(case, exports):
    """The torch-free predictor on the ONNX export labels texts as the quantized PyTorch model does."""
    directory, _, out = exports(case, "onnx")
    student = load_student(directory)
    predictions = load(out).predict(TEXTS, batch_size=8)
    assert [p.label_id for p in predictions] == quantized_logits(student, TEXTS).argmax(1).tolist()


@needs_compiler
@pytest.mark.parametrize("case", list(CASES))
def test_c_export_computes_the_lowbit_model_from_packed_tables(case, exports, tmp_path):
    """Host-built C gives the quantized PyTorch model's logits (1e-4, same labels), with every sub-8-bit matrix
    and table stored packed: no int8 copy of them in the source."""
    directory, manifest, out = exports(case, "c")
    student = load_student(directory)
    exe, warnings = c_build.build_host(out, tmp_path / "build")
    assert warnings == "" and manifest["parity"]["compiler_warnings"] == ""
    logits, _ = c_build.run_logits(exe, TEXTS)
    reference = quantized_logits(student, TEXTS)
    np.testing.assert_allclose(logits, reference, atol=C_ATOL, rtol=0)
    c_build.check_logits(exe, TEXTS, reference, C_ATOL)  # the same comparison inside C
    assert (logits.argmax(1) == reference.argmax(1)).all()
    source = c_runtime.generated_part((out / "fw_model.c").read_text())  # the tables, not the runtime's code
    table = "fw_embedding" if "embedding.table.weight" in int8_weights(student) else "fw_components"
    assert f"static const uint8_t {table}_codes[" in source and f"{table}_q[" not in source
    arch, embedding, settings, _ = CASES[case]
    if settings.get("encoder_quantization", "").endswith("-row") and arch != "ffn":
        assert "static const uint8_t fw_forward_ih_codes[" in source and "fw_forward_ih_q[" not in source
    if embedding == "hash" and settings.get("hash_importance_dtype", "float16") != "float16":
        assert "static const uint8_t fw_importance_codes[" in source and "fw_importance_f16" not in source


def unpacked(weights: dict) -> dict:
    """The same weights as plain int8 rows (PQ: its reconstruction) and float16 importance: what the C export
    wrote before sub-8-bit storage."""
    out = {}
    for name, weight in weights.items():
        if isinstance(weight, QuantizedTensor) and weight.per_tensor:  # its values are exact in float16
            out[name] = weight.dequantize().astype(np.float16)
        elif isinstance(weight, QuantizedTensor):
            out[name] = dataclasses.replace(weight, bits=8, pq=None)
        else:
            out[name] = weight
    return out


@needs_compiler
@pytest.mark.parametrize("case", ["wide-bilstm-hash-int4", "wide-bilstm-char-int2", "rnn-char-pq4-int2",
                                  "rnn-hash-pq8-int2-importance"])
def test_packed_c_computes_the_bits_of_the_same_weights_unpacked_to_int8(case, exports, tmp_path):
    """Reading packed codes (sign-extended b-bit rows, PQ rows from their codebooks, b-bit importance) changes no
    bit of the logits: the C of the same weights written as int8 rows and float16 importance gives the same, and so
    does the compact -Os kernel."""
    directory, _, out = exports(case, "c")
    student = load_student(directory)
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    write_c(student.meta, unpacked(int8_weights(student)), build_port(student.tokenizer), plain)
    assert (plain / "fw_model.c").read_text() != (out / "fw_model.c").read_text()
    texts = TEXTS + make_sentences(40, seed=11)[0]
    expected, _ = c_build.run_logits(c_build.build_host(plain, tmp_path / "plain-build")[0], texts)
    for name, flags in (("O2", None), ("Os", ("-std=c99", "-Os", *c_build.HOST_FLAGS[2:]))):
        exe, warnings = c_build.build_host(out, tmp_path / name, flags=flags)
        assert warnings == ""
        np.testing.assert_array_equal(c_build.run_logits(exe, texts)[0], expected, err_msg=name)


def test_weight_bytes_count_the_artifacts_packed_storage(artifacts):
    """int8_bytes counts what a sub-8-bit artifact stores: packed codes, float16 scales, PQ codes and codebooks."""
    for case in CASES.values():
        student = load_student(artifacts(*case))
        stored = sum(t.numel() * t.element_size() for t in student.model.state_dict().values())
        assert int8_bytes(int8_weights(student)) == stored, case


@pytest.mark.parametrize("embedding", ["hash", "char"])
def test_4bit_c_export_stores_far_fewer_weight_bytes_than_8bit(embedding, artifacts, tmp_path):
    """The same student at 4 bits exports under 60 % of its 8-bit weight bytes, and (Cortex-M4, when
    arm-none-eabi-gcc is installed) takes less flash by at least half of the bytes saved."""
    manifests = {}
    for name, settings in (("int8", {}), ("int4", ALL_4BIT)):
        manifests[name] = export(ExportConfig(model=str(artifacts("bilstm", embedding, settings, wide=True)),
                                              output=str(tmp_path / name), format="c", verify=False))
    eight, four = (manifests[name]["bytes"]["int8_weights"] for name in ("int8", "int4"))
    assert four < 0.6 * eight
    assert "4-bit rows" in manifests["int4"]["weights"] and manifests["int8"]["weights"].startswith("int8 rows")
    if manifests["int8"]["cortex_m4"]["measured"]:
        flash = {name: manifest["cortex_m4"]["model_flash_bytes"] for name, manifest in manifests.items()}
        assert flash["int8"] - flash["int4"] >= (eight - four) / 2


def test_quantized_tensor_checks_its_codes():
    """A QuantizedTensor refuses codes outside its bit width and PQ codes that do not rebuild its rows; its
    bytes are the packed codes and float16 scales."""
    codes = np.array([[7, -7, 0, 1, 2], [0, 0, 0, 0, -1]], dtype=np.int8)
    tensor = QuantizedTensor(codes, np.array([0.5, 0.25]), bits=4)
    assert tensor.nbytes == 5 + 2 * 2  # 10 codes in 5 bytes, two float16 scales
    with pytest.raises(ValueError, match="4-bit codes"):
        QuantizedTensor(codes * 2, np.array([0.5, 0.25]), bits=4)
    books = np.arange(2 * 16 * 3, dtype=np.int8).reshape(2, 16, 3)
    rows = np.stack([np.concatenate([books[0, 1], books[1, 2]]), np.concatenate([books[0, 0], books[1, 0]])])
    pq = QuantizedTensor(rows[:, :5], np.ones(2), pq=(np.array([[1, 2], [0, 0]]), books, 4))
    assert pq.nbytes == 2 + books.nbytes + 4  # 4 codes of 4 bits, int8 codebooks, one float32 scale
    with pytest.raises(ValueError, match="reconstruct"):
        QuantizedTensor(rows[:, :5], np.ones(2), pq=(np.array([[1, 2], [0, 1]]), books, 4))
