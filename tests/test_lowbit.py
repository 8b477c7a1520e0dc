"""Sub-8-bit quantization: bit packing, b-bit rows, product-quantized tables, quantize() with 4-/2-bit and PQ
settings on every arch x embedding, QAT fake quantization, sizes on disk and parameter counts."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_TEXTS, tiny_student
from featherweight.artifact import build_model, load_student, save_student
from featherweight.compression.prune import prune
from featherweight.compression.quantize import Int8Weight, QuantizeConfig, int8_weights, quantize
from featherweight.compression.quantized.lowbit import (LowBitEmbedding, LowBitLinear, LowBitLSTM, PQEmbedding, dequantize_rows,
                                            fake_quantize, level_max, lowbit_rows)
from featherweight.compression.quantized.packing import (pack, pack_flat, packed_bits, packed_name, packed_width, unpack,
                                             unpack_flat)
from featherweight.measure.size import weights_sizes
from featherweight.student_meta import StudentMeta

ARCHS = ("bilstm", "rnn", "ffn")
EMBEDDINGS = ("hash", "char", "bpe")
BITS = (1, 2, 4, 8)
LOWBIT = {  # one setting of each new option, spread over four configurations
    "int4": dict(embedding_quantization="int4-row", encoder_quantization="int4-row", classifier_quantization="int4-row",
                 hash_importance_dtype="int4"),
    "int2": dict(embedding_quantization="int2-row", encoder_quantization="int2-row", classifier_quantization="int2-row",
                 hash_importance_dtype="int2"),
    "pq8": dict(embedding_quantization="pq", pq_bits=8, pq_subvector_dim=3, encoder_quantization="int4-row",
                classifier_quantization="int2-row", hash_importance_dtype="int8"),
    "pq4": dict(embedding_quantization="pq", pq_bits=4, pq_subvector_dim=4, encoder_quantization="int2-row",
                classifier_quantization="int4-row", hash_importance_dtype="int4"),
}
INT8 = dict(hash_importance_dtype="int8")  # everything in int8 rows, float state (the defaults)

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- packing

def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest b-bit code, two's complement when signed."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def random_codes(shape: tuple, bits: int, signed: bool, seed: int = 0) -> np.ndarray:
    low, high = code_range(bits, signed)
    return np.random.default_rng(seed).integers(low, high + 1, size=shape).astype(np.int8 if signed else np.uint8)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("cols", [1, 3, 7, 13])
def test_pack_then_unpack_gives_the_codes_back(bits, signed, cols):
    """Each row is packed into packed_width bytes, and unpacks to the same codes (odd widths included)."""
    codes = random_codes((5, cols), bits, signed)
    packed = pack(codes, bits)
    assert packed.dtype == np.uint8 and packed.shape == (5, packed_width(cols, bits)) == (5, -(-cols * bits // 8))
    back = unpack(packed, bits, cols, signed)
    assert back.dtype == (np.int8 if signed else np.uint8)
    np.testing.assert_array_equal(back, codes)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("shape", [(1,), (3, 5), (2, 3, 7)])
def test_pack_flat_then_unpack_flat_gives_the_array_back(bits, signed, shape):
    """Any array packs flat into ceil(n * b / 8) bytes and unpacks to its codes and shape."""
    codes = random_codes(shape, bits, signed, seed=1)
    packed = pack_flat(codes, bits)
    assert packed.shape == (-(-codes.size * bits // 8),)
    np.testing.assert_array_equal(unpack_flat(packed, bits, shape, signed), codes)


@pytest.mark.parametrize("bits, codes, expected", [
    (2, [1, 2, 3, 0, 1], [0b00_11_10_01, 0b01]),
    (2, [-1, 1, -2, 0], [0b00_10_01_11]),  # two's complement: -1 = 0b11, -2 = 0b10
    (4, [-1, 2, 7], [0x2F, 0x07]),
    (1, [1, 0, 1, 1, 0, 0, 0, 0, 1], [0b00001101, 0b1]),
    (8, [-1, 5], [0xFF, 0x05]),
])
def test_pack_flat_puts_the_first_code_in_the_lowest_bits(bits, codes, expected):
    """The documented layout: code i is bits (i % (8 // b)) * b of byte i // (8 // b); the last byte zero-padded."""
    np.testing.assert_array_equal(pack_flat(np.array(codes), bits), np.array(expected, dtype=np.uint8))


def test_pack_pads_each_row_but_pack_flat_runs_across_rows():
    """pack pads every row to whole bytes; pack_flat packs the matrix in row-major order without row gaps."""
    codes = np.array([[1, 2, 3], [3, 2, 1]])
    np.testing.assert_array_equal(pack(codes, 2), [[0b11_10_01], [0b01_10_11]])
    np.testing.assert_array_equal(pack_flat(codes, 2), [0b11_11_10_01, 0b01_10])


@pytest.mark.parametrize("bits", BITS)
def test_codes_out_of_range_raise(bits):
    """A code below the signed minimum or above the unsigned maximum does not fit b bits."""
    low, _ = code_range(bits, signed=True)
    _, high = code_range(bits, signed=False)
    pack(np.array([[low, high]]), bits)  # the extremes fit
    for bad in (low - 1, high + 1):
        with pytest.raises(ValueError, match="do not fit"):
            pack(np.array([[0, bad]]), bits)
        with pytest.raises(ValueError, match="do not fit"):
            pack_flat(np.array([bad]), bits)


def test_pack_rejects_other_bit_widths_and_shapes():
    with pytest.raises(ValueError, match="bits in"):
        pack(np.zeros((2, 2), dtype=np.int8), 3)
    with pytest.raises(ValueError, match="2-D"):
        pack(np.zeros(4, dtype=np.int8), 4)


def test_packed_names_carry_their_bit_width():
    """<name>_packed<b> names b-bit codes; anything else (scales, other widths, a bare suffix) is not packed."""
    for bits in BITS:
        assert packed_name("encoder.rnn.weight_ih_l0", bits) == f"encoder.rnn.weight_ih_l0_packed{bits}"
        assert packed_bits(packed_name("embedding.table.weight", bits)) == bits
    for name in ("weight", "weight_scale", "weight_packed3", "weight_packed16", "_packed4", "weight_packed4_scale",
                 "weight_packed", "weight_packedx"):
        assert packed_bits(name) is None, name


# ---------------------------------------------------------------- b-bit rows

def rows_with_outliers(rows: int = 9, cols: int = 13, seed: int = 0) -> torch.Tensor:
    """Rows of different magnitudes, one with an outlier, one all zeros."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(rows, cols, generator=generator) * torch.logspace(-2, 1, rows)[:, None]
    weight[1, 4] = 4 * weight[1].abs().max()
    weight[3] = 0.0
    return weight


def squared_error(codes: torch.Tensor, scale: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return ((dequantize_rows(codes, scale) - weight) ** 2).sum(dim=1)


@pytest.mark.parametrize("bits", [2, 4])
def test_lowbit_rows_codes_fit_and_scales_are_float16(bits):
    weight = rows_with_outliers()
    codes, scale = lowbit_rows(weight, bits)
    assert codes.dtype == torch.int8 and codes.shape == weight.shape
    assert codes.abs().max() <= level_max(bits) and codes.abs().max() == level_max(bits)
    assert scale.dtype == torch.float16 and scale.shape == (len(weight),)
    codes, scale = lowbit_rows(weight, bits, per_tensor=True)
    assert codes.abs().max() <= level_max(bits) and scale.dtype == torch.float16 and scale.shape == (1,)


@pytest.mark.parametrize("bits", [2, 4])
def test_lowbit_rows_error_is_no_worse_than_the_max_abs_scale(bits):
    """The least-squares clipped scale never loses to covering max |w| (float16 scale), and wins overall."""
    weight = rows_with_outliers()
    top = level_max(bits)
    plain_scale = (weight.abs().amax(dim=1) / top).half()
    plain_scale = torch.where(plain_scale > 0, plain_scale, torch.ones_like(plain_scale))
    plain_codes = torch.clamp(torch.round(weight / plain_scale.float()[:, None]), -top, top)
    plain = squared_error(plain_codes, plain_scale, weight)
    ours = squared_error(*lowbit_rows(weight, bits), weight)
    assert (ours <= plain * (1 + 1e-6)).all(), (ours, plain)
    assert ours.sum() < 0.95 * plain.sum()


@pytest.mark.parametrize("per_tensor", [False, True])
def test_zero_rows_stay_zero_with_scale_one(per_tensor):
    weight = rows_with_outliers()
    codes, scale = lowbit_rows(weight, 4)
    assert torch.equal(codes[3], torch.zeros_like(codes[3])) and scale[3] == 1
    codes, scale = lowbit_rows(torch.zeros(4, 5), 2, per_tensor)
    assert not codes.any() and torch.equal(scale, torch.ones_like(scale))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_per_tensor_values_are_exact_in_float16(bits):
    """One scale per tensor (hash importance): every code * scale is a float16 value, so float16 exports are exact."""
    weight = torch.randn(51, 3, generator=torch.Generator().manual_seed(bits)) * 0.37 + 0.1
    values = dequantize_rows(*lowbit_rows(weight, bits, per_tensor=True))
    assert torch.equal(values.half().float(), values)
    assert (values - weight).abs().max() < weight.abs().max()  # and still an approximation of the weights


def test_lowbit_rows_is_deterministic():
    weight = rows_with_outliers(seed=3)
    for bits, per_tensor in [(2, False), (4, False), (4, True)]:
        first, second = lowbit_rows(weight, bits, per_tensor), lowbit_rows(weight.clone(), bits, per_tensor)
        assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


# ---------------------------------------------------------------- product quantization

def embedding_of(weight: torch.Tensor) -> torch.nn.Embedding:
    table = torch.nn.Embedding(*weight.shape, padding_idx=0)
    with torch.no_grad():
        table.weight.copy_(weight)
    return table


def int8_rounding(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The rows rounded to int8 multiples of `scale` (float32), as the codebooks store them."""
    return torch.round(weight.double() / scale.double()).float() * scale


def reconstruction(pq: PQEmbedding) -> torch.Tensor:
    with torch.no_grad():
        return pq(torch.arange(pq.num_embeddings))


@pytest.mark.parametrize("bits", [4, 8])
def test_pq_keeps_padding_and_zero_rows_exactly_zero(bits):
    weight = torch.randn(300, 7, generator=torch.Generator().manual_seed(0))
    weight[0] = weight[17] = weight[230] = 0.0
    pq = PQEmbedding.from_float(embedding_of(weight), subvector_dim=3, bits=bits)
    rows = reconstruction(pq)
    for zero in (0, 17, 230):
        assert torch.equal(rows[zero], torch.zeros(7)) and not pq.codes()[zero].any()
    assert rows[1:17].abs().sum(dim=1).min() > 0


@pytest.mark.parametrize("bits, subvector_dim", [(8, 3), (4, 4), (4, 8)])
def test_pq_reconstructs_tables_with_few_distinct_rows_as_their_int8_rounding(bits, subvector_dim):
    """Fewer distinct sub-vectors than centroids (repeated rows too): each gets its own centroid, so the table comes
    back as its int8 rounding at the codebook scale, max |w| / 127."""
    generator = torch.Generator().manual_seed(bits)
    distinct = torch.randn(12, 8, generator=generator)
    picks = torch.cat([torch.zeros(150, dtype=torch.long), torch.arange(12), torch.randint(12, (40,))])
    weight = torch.cat([torch.zeros(1, 8), distinct[picks]])  # one row very common, the others rare
    pq = PQEmbedding.from_float(embedding_of(weight), subvector_dim=subvector_dim, bits=bits)
    scale = pq.codebooks_scale
    assert scale.item() == np.float32(weight.abs().max().double().item() / 127)
    assert torch.equal(reconstruction(pq), int8_rounding(weight, scale))


def test_pq_error_drops_from_4_to_8_bit_codes():
    """Relative squared error of 2-dim sub-vectors of Gaussian rows: about 0.09 with 16 centroids after k-means
    (0.21 from its random start alone), far less with 256."""
    weight = torch.randn(300, 8, generator=torch.Generator().manual_seed(1))
    table = embedding_of(weight)
    errors = {bits: ((reconstruction(PQEmbedding.from_float(table, 2, bits)) - weight) ** 2).sum() / (weight ** 2).sum()
              for bits in (4, 8)}
    assert errors[8] < 0.1 * errors[4] and errors[4] < 0.12


def test_pq_is_deterministic():
    table = embedding_of(torch.randn(200, 6, generator=torch.Generator().manual_seed(2)))
    first, second = (PQEmbedding.from_float(table, 2, 4).state_dict() for _ in range(2))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_pq_pads_the_last_sub_vector_with_zeros():
    """dim 7 in sub-vectors of 3: three sub-spaces, the last one holding one real dim and two zero dims."""
    weight = torch.randn(100, 7, generator=torch.Generator().manual_seed(3))
    pq = PQEmbedding.from_float(embedding_of(weight), subvector_dim=3, bits=4)
    assert pq.subspaces == 3 and pq.codebooks.shape == (3, 16, 3) and pq.codebooks.dtype == torch.int8
    assert not pq.codebooks[2, :, 1:].any() and pq.codebooks[2, :, 0].any()
    assert not pq.codebooks[:, 0].any()  # centroid 0 is the zero vector in every sub-space
    stored = getattr(pq, packed_name("codes", 4))
    assert stored.dtype == torch.uint8 and stored.shape == (packed_width(100 * 3, 4),)
    assert pq.codes().shape == (100, 3) and pq.codes().max() < 16
    assert reconstruction(pq).shape == (100, 7)
    assert torch.equal(pq.int8_rows().float() * pq.codebooks_scale, reconstruction(pq))


def test_pq_rejects_other_code_widths():
    with pytest.raises(ValueError, match="4- or 8-bit"):
        PQEmbedding(10, 4, 2, 2)


# ---------------------------------------------------------------- quantize() on tiny students

@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """tiny_student(arch, embedding), built once per module."""
    built = {}

    def get(arch: str, embedding: str):
        if (arch, embedding) not in built:
            built[arch, embedding] = tiny_student(arch, embedding, tmp_path_factory.mktemp(f"{arch}-{embedding}"))
        return built[arch, embedding]
    return get


def encoded(tokenizer, texts=TINY_TEXTS[:12]) -> torch.Tensor:
    """Model inputs for `texts`, right padded, in one batch."""
    from featherweight.embeddings import pad_batch

    return torch.from_numpy(pad_batch([tokenizer.encode(t) for t in texts])).long()


def dequantized(weight) -> torch.Tensor:
    """values * scales of an Int8Weight (one scale per row), or the float value of a plain tensor."""
    if isinstance(weight, Int8Weight):
        return weight.values.float() * weight.scales.float().reshape(-1, *([1] * (weight.values.dim() - 1)))
    return weight.float()


def reference_model(quantized, meta, tokenizer):
    """The float architecture loaded with int8_weights' values * scales: what the quantized student must compute."""
    model = build_model(meta, tokenizer)
    model.load_state_dict({name: dequantized(weight) for name, weight in int8_weights(quantized).items()})
    return model.eval()


def quantized_meta(meta: StudentMeta, config: QuantizeConfig) -> StudentMeta:
    return dataclasses.replace(meta, variant="quantized", quantization=config.to_dict())


def logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(ids)


ALL_STUDENTS = [(arch, embedding) for arch in ARCHS for embedding in EMBEDDINGS]


@pytest.mark.parametrize("setting", list(LOWBIT))
@pytest.mark.parametrize("arch, embedding", ALL_STUDENTS)
def test_lowbit_students_compute_with_their_stored_weights(students, arch, embedding, setting):
    """The quantized student's logits are those of the float architecture holding int8_weights' values * scales
    (exactly; the Elman RNN's step-by-step rewrite of nn.RNN rounds differently, within 1e-6)."""
    model, tokenizer, meta = students(arch, embedding)
    config = QuantizeConfig(**LOWBIT[setting])
    quantized = quantize(model, config)
    ids = encoded(tokenizer)
    assert torch.allclose(logits(quantized, ids), logits(reference_model(quantized, meta, tokenizer), ids),
                          atol=1e-6 if arch == "rnn" else 0, rtol=0)
    assert not torch.equal(logits(quantized, ids), logits(model, ids))


@pytest.mark.parametrize("setting", list(LOWBIT))
@pytest.mark.parametrize("arch, embedding", ALL_STUDENTS)
def test_lowbit_artifacts_reload_with_identical_logits(students, arch, embedding, setting, tmp_path):
    """save_student / load_student (the quantized skeleton) rebuilds the same low-bit modules and logits."""
    model, tokenizer, meta = students(arch, embedding)
    config = QuantizeConfig(**LOWBIT[setting])
    quantized = quantize(model, config)
    loaded = load_student(save_student(tmp_path / "q", quantized, tokenizer, quantized_meta(meta, config))).model
    assert [type(m) for m in loaded.modules()] == [type(m) for m in quantized.modules()]
    ids = encoded(tokenizer)
    assert torch.equal(logits(loaded, ids), logits(quantized, ids))


def lowbit_modules(model) -> dict[type, int]:
    """How many modules of each low-bit class a model holds."""
    counts = {}
    for module in model.modules():
        if isinstance(module, (LowBitEmbedding, LowBitLinear, LowBitLSTM, PQEmbedding)):
            counts[type(module)] = counts.get(type(module), 0) + 1
    return counts


@pytest.mark.parametrize("setting", ["int4", "pq4"])
def test_loading_new_weights_into_a_used_low_bit_student_rebuilds_its_float_view(students, setting, tmp_path):
    """Low-bit modules cache their dequantized weights on first use; load_state_dict drops that cache."""
    model, tokenizer, meta = students("bilstm", "hash")
    config = QuantizeConfig(**LOWBIT[setting])
    first, second = quantize(model, config), quantize(tiny_student("bilstm", "hash", tmp_path, seed=1)[0], config)
    ids = encoded(tokenizer)
    logits(first, ids)  # builds the cached float weights
    first.load_state_dict(second.state_dict())
    assert torch.equal(logits(first, ids), logits(second, ids))


@pytest.mark.parametrize("arch", ARCHS)
def test_every_new_option_swaps_in_its_low_bit_module(students, arch):
    """Tables, importance weights, encoder and classifier layers all become low-bit modules of the asked width."""
    model, _, _ = students(arch, "hash")
    quantized = quantize(model, QuantizeConfig(**LOWBIT["pq4"]))
    embedding = quantized.embedding
    assert isinstance(embedding.components, PQEmbedding) and embedding.components.bits == 4
    assert embedding.components.subvector_dim == 4
    assert isinstance(embedding.importance, LowBitEmbedding) and embedding.importance.per_tensor
    assert embedding.importance.bits == 4 and embedding.importance.weight_scale.shape == (1,)
    assert all(m.bits == 4 for m in quantized.classifier if isinstance(m, LowBitLinear))
    encoder_layers = {"bilstm": {LowBitLSTM: 1}, "rnn": {LowBitLinear: 4}, "ffn": {}}[arch]
    assert lowbit_modules(quantized.encoder) == encoder_layers
    assert all(m.bits == 2 for m in quantized.encoder.modules() if isinstance(m, (LowBitLinear, LowBitLSTM)))


@pytest.mark.parametrize("arch", ARCHS)
def test_int8_weights_describe_low_bit_and_pq_tensors(students, arch):
    """Low-bit entries carry `bits` and codes within +-level_max; a PQ entry's codes and codebooks rebuild its rows."""
    model, _, _ = students(arch, "char")
    quantized = quantize(model, QuantizeConfig(**LOWBIT["pq8"]))
    weights = int8_weights(quantized)
    assert set(weights) == set(model.state_dict())
    table = weights["embedding.table.weight"]
    codes, codebooks, bits = table.pq
    assert bits == 8 and table.values.dtype == torch.int8 and table.scales.shape == (len(table.values),)
    rebuilt = codebooks[torch.arange(codebooks.shape[0]), codes].reshape(len(codes), -1)[:, :table.values.shape[1]]
    assert torch.equal(rebuilt, table.values)
    lowbit = {name: w for name, w in weights.items() if isinstance(w, Int8Weight) and w.pq is None}
    expected_bits = {"classifier": 2, "encoder": 4}
    assert {name.split(".")[0] for name in lowbit} == ({"classifier"} if arch == "ffn" else {"classifier", "encoder"})
    for name, weight in lowbit.items():
        assert weight.bits == expected_bits[name.split(".")[0]], name
        assert weight.values.dtype == torch.int8 and weight.values.abs().max() <= level_max(weight.bits), name


# ---------------------------------------------------------------- sizes and parameter counts

def saved_sizes(directory: Path, model, tokenizer, meta: StudentMeta, config: QuantizeConfig | None) -> dict:
    """weights_sizes of `model` quantized under `config` (None: the float student) saved at `directory`."""
    if config is None:
        return weights_sizes(save_student(directory, model, tokenizer, meta))
    return weights_sizes(save_student(directory, quantize(model, config), tokenizer, quantized_meta(meta, config)))


@pytest.mark.parametrize("arch, embedding", ALL_STUDENTS)
def test_fewer_bits_take_fewer_bytes_on_disk(students, arch, embedding, tmp_path):
    """Raw and gzip -9 weight bytes: 2-bit < 4-bit < 8-bit; the 4-bit artifact stores its codes packed."""
    model, tokenizer, meta = students(arch, embedding)
    sizes = {name: saved_sizes(tmp_path / name, model, tokenizer, meta, QuantizeConfig(**config))
             for name, config in (("int8", INT8), ("int4", LOWBIT["int4"]), ("int2", LOWBIT["int2"]))}
    for measure in ("raw_bytes", "gzip_bytes"):
        assert sizes["int2"][measure] < sizes["int4"][measure] < sizes["int8"][measure], (measure, sizes)
    assert "packed4" in sizes["int4"]["bytes_by_dtype"] and "int8" not in sizes["int4"]["bytes_by_dtype"]
    assert "packed2" in sizes["int2"]["bytes_by_dtype"] and "int8" not in sizes["int2"]["bytes_by_dtype"]


def packed_tensors(model) -> int:
    return sum(packed_bits(name) is not None for name in model.state_dict())


@pytest.mark.parametrize("setting", ["int4", "int2"])
@pytest.mark.parametrize("arch, embedding", ALL_STUDENTS)
def test_low_bit_artifacts_count_the_float_students_parameters(students, arch, embedding, setting, tmp_path):
    """Each packed code is a parameter: the count matches the float student's, up to the zero codes padding the
    last byte of each packed tensor (fewer than 8 // b each)."""
    model, tokenizer, meta = students(arch, embedding)
    config = QuantizeConfig(**LOWBIT[setting])
    per_byte = 8 // {"int4": 4, "int2": 2}[setting]
    float_params = saved_sizes(tmp_path / "float", model, tokenizer, meta, None)["params"]
    params = saved_sizes(tmp_path / "q", model, tokenizer, meta, config)["params"]
    padding = params - float_params
    assert 0 <= padding <= packed_tensors(quantize(model, config)) * (per_byte - 1), (params, float_params)


@pytest.mark.parametrize("arch, embedding", ALL_STUDENTS)
def test_pruned_zeros_stay_zero_after_4_bit_quantization(students, arch, embedding, tmp_path):
    model, tokenizer, meta = students(arch, embedding)
    pruned = prune(model)
    float_sizes = saved_sizes(tmp_path / "pruned", pruned, tokenizer, meta, None)
    assert float_sizes["nonzero_params"] < float_sizes["params"]  # the pruning left zeros
    config = QuantizeConfig(**LOWBIT["int4"])
    quantized = saved_sizes(tmp_path / "q", pruned, tokenizer, meta, config)
    assert quantized["nonzero_params"] <= float_sizes["nonzero_params"]
    stored = int8_weights(quantize(pruned, config)).values()  # non-zero codes, not bytes, are counted
    assert quantized["nonzero_params"] == sum(int(dequantized(weight).count_nonzero()) for weight in stored)


# ---------------------------------------------------------------- fake quantization (QAT)

CLASSIFIER_SCHEMES = {"int8-row": "weight-only", "int4-row": "int4-row", "int2-row": "int2-row"}
ENCODER_SCHEMES = {"int8-row": "dynamic-int8", "int4-row": "int4-row", "int2-row": "int2-row"}
TABLE_SCHEMES = {"int8-row": "int8-row", "int4-row": "int4-row", "int2-row": "int2-row"}
IMPORTANCE_SCHEMES = {"int8-row": "int8", "int4-row": "int4", "int2-row": "int2"}


@pytest.mark.parametrize("scheme", list(CLASSIFIER_SCHEMES))
def test_fake_quantize_gives_the_values_quantize_stores(students, scheme):
    """For rows (tables, LSTM and classifier weights) and one-scale importance weights alike."""
    model, _, _ = students("bilstm", "hash")
    config = QuantizeConfig(embedding_quantization=TABLE_SCHEMES[scheme], encoder_quantization=ENCODER_SCHEMES[scheme],
                            classifier_quantization=CLASSIFIER_SCHEMES[scheme],
                            hash_importance_dtype=IMPORTANCE_SCHEMES[scheme])
    stored = int8_weights(quantize(model, config))
    floats = dict(model.named_parameters())
    for name in ("embedding.components.weight", "encoder.rnn.weight_ih_l0", "encoder.rnn.weight_hh_l0_reverse",
                 "classifier.1.weight", "classifier.4.weight"):
        assert torch.equal(fake_quantize(floats[name], scheme), dequantized(stored[name])), name
    importance = "embedding.importance.weight"
    assert torch.equal(fake_quantize(floats[importance], scheme, per_tensor=True), dequantized(stored[importance]))


@pytest.mark.parametrize("scheme, per_tensor", [("int8-row", False), ("int8-row", True), ("int4-row", False),
                                                ("int4-row", True), ("int2-row", False), ("int2-row", True)])
def test_fake_quantize_passes_the_gradient_straight_through(scheme, per_tensor):
    weight = torch.randn(6, 5, generator=torch.Generator().manual_seed(0)).requires_grad_()
    upstream = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    value = fake_quantize(weight, scheme, per_tensor)
    assert not torch.equal(value, weight)
    (value * upstream).sum().backward()
    assert torch.equal(weight.grad, upstream)


def test_fake_quantize_rejects_unknown_schemes():
    with pytest.raises(ValueError, match="pq"):
        fake_quantize(torch.ones(2, 2), "pq")


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("field, value", [("pq_bits", 5), ("pq_bits", 2), ("pq_bits", "8"), ("pq_bits", 8.5),
                                          ("pq_subvector_dim", 0), ("pq_subvector_dim", -2),
                                          ("pq_subvector_dim", True), ("pq_subvector_dim", 2.0),
                                          ("hash_importance_dtype", "int3"), ("hash_importance_dtype", "int1"),
                                          ("embedding_quantization", "int3-row"), ("encoder_quantization", "pq"),
                                          ("classifier_quantization", "pq")])
def test_bad_low_bit_settings_name_their_field(field, value):
    with pytest.raises(ValueError, match=field):
        QuantizeConfig(**{field: value})
