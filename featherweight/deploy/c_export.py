"""Generate one C99 source and one header for a student: its switches, tokenizer tables and quantized weights,
around the C runtime (the files under c/, copied verbatim).

The weights come from `int8_weights` (int8 rows + float scales, hash importance float16; from a
sub-8-bit artifact b-bit rows packed with float16 scales, product-quantized tables, b-bit importance), the
tokenizer from the portable tables (port.json). Python writes data and #defines only: the switches (FW_TOKENIZER,
FW_TABLE_STORAGE, FW_ENCODER, ... see c/fw_runtime.h) pick the runtime's code for the model. Identifiers start
with the export's prefix ("fw" by default) so several models can live in one firmware.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np

from featherweight.compression.quantized.packing import pack_flat
from featherweight.deploy import c_runtime
from featherweight.deploy.weights import QuantizedTensor
from featherweight.student_meta import StudentMeta

POOLINGS = {"last": "FW_POOL_LAST", "max": "FW_POOL_MAX", "mean": "FW_POOL_MEAN"}
TOKENIZERS = {"hash": "FW_TOKENIZER_HASH", "char": "FW_TOKENIZER_CHAR", "bpe": "FW_TOKENIZER_BPE"}
HASH_FUNCTIONS = {"murmur3_32": "FW_HASH_MURMUR3_32", "fnv1a_32": "FW_HASH_FNV1A_32"}
ENCODERS = {"ffn": "FW_ENCODER_BAG", "rnn": "FW_ENCODER_RNN", "bilstm": "FW_ENCODER_LSTM"}
PANEL, PANEL_SMALL = 32, 8  # rows per weight panel: the layout `panels` writes and fw_matvec_add reads
BPE_MAX_SYMBOLS = 128  # longest word the C BPE merges in one piece (codepoints); longer words are cut
BPE_MAX_WORD_BYTES = 512
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_LABELS = "@LABELS@"  # where the label names / enum go, after the fw_ -> prefix renaming


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ValueError(f"C prefix must be a lower-case C identifier start like 'fw' or 'sentiment', got {prefix!r}.")
    return prefix


def source_names(prefix: str) -> tuple[str, str]:
    """(source file, header file) names of an export with this prefix."""
    return f"{prefix}_model.c", f"{prefix}_model.h"


# ---- formatting ---------------------------------------------------------------------------------

def _float(value) -> str:
    value = float(np.float32(value))
    if not np.isfinite(value):
        raise ValueError(f"Cannot write a non-finite weight ({value}) into C.")
    text = f"{value:.9g}"
    if not any(ch in text for ch in ".e"):
        text += ".0"
    return text + "f"


def _array(ctype: str, name: str, values, fmt=str, per_line: int = 24) -> str:
    values = list(values)
    if not values:  # C has no empty arrays; a count macro says the real length
        values = [0]
    lines = [", ".join(fmt(v) for v in values[i:i + per_line]) for i in range(0, len(values), per_line)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{len(values)}] = {{\n    {body}\n}};\n"


def _c_string(text: str) -> str:
    """A C string literal of `text`: UTF-8 bytes, non-printable ones in octal, ? escaped (no ??= trigraphs)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def label_identifiers(names, prefix: str = "fw") -> list[str]:
    """C enum constants of the labels, in label order: <PREFIX>_LABEL_ + the name with accents dropped, upper case,
    each run of characters other than A-Z and 0-9 as one _ (a name with nothing left: its index); a repeat gets
    _2, _3, ... ("Abbreviation" -> FW_LABEL_ABBREVIATION, "not duplicate" -> FW_LABEL_NOT_DUPLICATE)."""
    used, identifiers = set(), []
    for index, name in enumerate(names):
        ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
        stem = f"{prefix.upper()}_LABEL_{re.sub(r'[^A-Z0-9]+', '_', ascii_name.upper()).strip('_') or index}"
        identifier, repeat = stem, 1
        while identifier in used:
            repeat += 1
            identifier = f"{stem}_{repeat}"
        used.add(identifier)
        identifiers.append(identifier)
    return identifiers


def _comment(text: str) -> str:
    """`text` safe inside a C block comment (printable ASCII, no comment end)."""
    return _c_string(text).replace("*/", "*\\/")


def _label_enum(names, prefix: str) -> str:
    """The header's enum of label ids (<prefix>_label), one constant per label, named after it."""
    rows = [f"    {identifier} = {index}, /* {_comment(str(name))} */"
            for index, (identifier, name) in enumerate(zip(label_identifiers(names, prefix), names))]
    return ("/* Label ids, indexed like the logits and the names: the predict functions return one of these.\n"
            " * Each is the label's name with accents dropped, upper case, other characters as _ (a repeat: _2). */\n"
            "typedef enum {\n" + "\n".join(rows) + f"\n}} {prefix}_label;")


def _uint_type(max_value: int) -> str:
    return "uint16_t" if max_value < 1 << 16 else "uint32_t"


# ---- tables -------------------------------------------------------------------------------------

def _normalisation_tables(port: dict) -> tuple[str, str]:
    """Runs and irregular entries of the normalisation table, keyed by codepoint & 0xFFFF within each plane
    (fw_norm_*_plane[p] .. [p + 1] index plane p's keys); irregular outputs as UTF-16 (surrogate pairs)."""
    if "normalize_runs" in port:
        runs, irregular = port["normalize_runs"], sorted(port["normalize_irregular"])
    else:  # a port from before runs
        runs, irregular = [], sorted(port["normalize"])
    planes = 1 + max([cp >> 16 for cp, _ in irregular] + [run[0] >> 16 for run in runs] + [0])
    units = [[], [0]]  # [flat UTF-16 units, start of each entry's units]
    for _, out in irregular:
        units[0].extend(_utf16(out))
        units[1].append(len(units[0]))
    alphabet = port["char"]["alphabet"] if port["type"] == "char" else []
    code = (f"typedef {_uint_type(max([run[4] for run in runs] + alphabet + [0]))} fw_cp_t;\n\n"
            "/* Per-codepoint normalisation, plane p = c >> 16 (below FW_NORM_PLANES), key c & 0xFFFF.\n"
            " * Runs: key fw_run_key[i] + k * fw_run_stride[i] (k < fw_run_count[i]) becomes the codepoint\n"
            " * fw_run_first[i] + k * fw_run_step[i]. Others: key fw_norm_key[i] becomes the UTF-16 units\n"
            " * fw_norm_to[fw_norm_start[i] .. fw_norm_start[i + 1]). Not found: unchanged. */\n"
            + _array("uint16_t", "fw_run_plane", _plane_starts([run[0] for run in runs], planes))
            + _array("uint16_t", "fw_run_key", [run[0] & 0xFFFF for run in runs], hex)
            + _array("uint8_t", "fw_run_count", [run[1] for run in runs])
            + _array("uint8_t", "fw_run_stride", [run[2] for run in runs])
            + _array("int8_t", "fw_run_step", [run[3] for run in runs])
            + _array("fw_cp_t", "fw_run_first", [run[4] for run in runs], hex)
            + _array("uint16_t", "fw_norm_plane", _plane_starts([cp for cp, _ in irregular], planes))
            + _array("uint16_t", "fw_norm_key", [cp & 0xFFFF for cp, _ in irregular], hex)
            + _array(_uint_type(len(units[0])), "fw_norm_start", units[1])
            + _array("uint16_t", "fw_norm_to", units[0], hex))
    return f"#define FW_NORM_PLANES {planes}\n", code


def _plane_starts(keys: list, planes: int) -> list:
    """Index of the first of the sorted `keys` in each plane 0..planes-1, then len(keys)."""
    return [sum(1 for key in keys if key >> 16 < plane) for plane in range(planes + 1)]


def _utf16(codepoints) -> list:
    """UTF-16 code units of the codepoints (a surrogate pair above U+FFFF)."""
    units = []
    for cp in codepoints:
        units.extend([cp] if cp < 0x10000 else [0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + (cp & 0x3FF)])
    return units


def _tokenizer_tables(port: dict) -> tuple[str, str]:
    """(macros, tables) of the tokenizer."""
    kind = port["type"]
    tokenizer = f"#define FW_TOKENIZER {TOKENIZERS[kind]}\n"
    if kind == "hash":
        h = port["hash"]
        seeds = [(h["seed"] + i) & 0xFFFFFFFF for i in range(h["num_hashes"] + 1)]
        macros = (f"{tokenizer}#define FW_HASH_FUNCTION {HASH_FUNCTIONS[h['function']]}\n"
                  f"#define FW_NUM_HASHES {h['num_hashes']}\n#define FW_NUM_COMPONENTS {h['num_components']}u\n"
                  f"#define FW_NUM_BUCKETS {h['num_buckets']}u\n"
                  f"#define FW_SPLIT_PUNCTUATION {int(h['split_punctuation'])}\n"
                  f"#define FW_WORD_NGRAMS {h.get('word_ngrams', 1)}\n")
        return macros, _array("uint32_t", "fw_hash_seeds", seeds, lambda v: f"{v}u")
    if kind == "char":
        alphabet = port["char"]["alphabet"]
        return (f"{tokenizer}#define FW_ALPHABET_SIZE {len(alphabet)}\n",
                _array("fw_cp_t", "fw_alphabet", alphabet, hex))
    b = port["bpe"]
    pieces = sorted(b["pieces"], key=lambda p: p[0].encode("utf-8"))
    blob, starts = bytearray(), [0]
    for piece, _, _ in pieces:
        blob += piece.encode("utf-8")
        starts.append(len(blob))
    macros = (f"{tokenizer}#define FW_NUM_PIECES {len(pieces)}\n#define FW_BPE_UNKNOWN_ID {b['unknown_id']}\n"
              f"#define FW_BPE_ADD_DUMMY_PREFIX {int(b['add_dummy_prefix'])}\n"
              f"#define FW_BPE_REMOVE_EXTRA_WHITESPACES {int(b['remove_extra_whitespaces'])}\n"
              f"#ifndef FW_BPE_MAX_SYMBOLS\n#define FW_BPE_MAX_SYMBOLS {BPE_MAX_SYMBOLS}\n#endif\n"
              f"#ifndef FW_BPE_MAX_WORD_BYTES\n#define FW_BPE_MAX_WORD_BYTES {BPE_MAX_WORD_BYTES}\n#endif\n")
    tables = ("/* BPE pieces sorted by their UTF-8 bytes: bytes, start offsets, merge rank (0 = first),\n"
              " * student id. */\n"
              + _array("unsigned char", "fw_piece_bytes", blob, hex)
              + _array(_uint_type(len(blob)), "fw_piece_start", starts)
              + _array(_uint_type(max(p[1] for p in pieces)), "fw_piece_rank", [p[1] for p in pieces])
              + _array("fw_id_t", "fw_piece_id", [p[2] for p in pieces]))
    return macros, tables


def _packed(codes: np.ndarray, bits: int) -> np.ndarray:
    """`codes` in their order, packed as packing.pack_flat (what fw_ucode / fw_scode read)."""
    return pack_flat(np.asarray(codes).reshape(-1), bits)


def _half_bits(name: str, scales: np.ndarray) -> np.ndarray:
    """The float16 bits of scales that are float16 values (b-bit rows store them so), else ValueError."""
    half = np.asarray(scales, dtype=np.float32).astype(np.float16)
    if not np.array_equal(half.astype(np.float32), scales):
        raise ValueError(f"{name}: the scales of b-bit rows must be float16 values, as featherweight.compression.quantize "
                         "stores them.")
    return half.view(np.uint16)


def _table(name: str, weight) -> tuple[str, str]:
    """An embedding table: (its arrays, the macros of its storage: FW_TABLE_STORAGE and what it needs).

    int8 rows with float scales (and zero points, affine tables only); b-bit rows packed flat with float16
    scales; or a product-quantized table: packed codes, int8 codebooks and one float scale.
    """
    if not isinstance(weight, QuantizedTensor):
        raise TypeError(f"Expected int8 rows for {name}, got {type(weight).__name__}.")
    if weight.pq is not None:
        codes, codebooks, bits = weight.pq
        subspaces, _, dim = codebooks.shape
        arrays = (_array("uint8_t", f"{name}_codes", _packed(codes, bits), hex)
                  + _array("int8_t", f"{name}_codebooks", codebooks.ravel())
                  + f"static const float {name}_scale = {_float(weight.scales[0])};\n")
        return arrays, (f"#define FW_TABLE_STORAGE FW_STORAGE_PQ\n#define FW_TABLE_BITS {bits}\n"
                        f"#define FW_PQ_SUBSPACES {subspaces}\n#define FW_PQ_DIM {dim}\n")
    if weight.bits < 8:
        arrays = (_array("uint8_t", f"{name}_codes", _packed(weight.values, weight.bits), hex)
                  + _array("uint16_t", f"{name}_scale_f16", _half_bits(name, weight.scales), hex))
        return arrays, f"#define FW_TABLE_STORAGE FW_STORAGE_LOWBIT\n#define FW_TABLE_BITS {weight.bits}\n"
    arrays = (_array("int8_t", f"{name}_q", weight.values.ravel())
              + _array("float", f"{name}_scale", weight.scales, _float))
    if weight.zero_points is not None:
        arrays += _array("float", f"{name}_zero", weight.zero_points, _float)
    zero_points = int(weight.zero_points is not None)
    return arrays, f"#define FW_TABLE_STORAGE FW_STORAGE_INT8\n#define FW_TABLE_ZERO_POINTS {zero_points}\n"


def _importance(weight) -> tuple[str, str]:
    """Hash importance weights: (arrays, the macros of their storage). float16 bits, or b-bit codes (8 included)
    packed flat with the table's one scale."""
    if not isinstance(weight, QuantizedTensor):
        half = np.asarray(weight, dtype=np.float16)
        return ("/* hash importance weights, IEEE float16 bits */\n"
                + _array("uint16_t", "fw_importance_f16", half.view(np.uint16).ravel(), hex),
                "#define FW_IMPORTANCE_STORAGE FW_STORAGE_HALF\n")
    if not weight.per_tensor or weight.zero_points is not None or weight.pq is not None:
        raise NotImplementedError("The C export stores quantized hash importance weights as b-bit codes with one "
                                  "scale for the table.")
    arrays = (f"/* hash importance weights, {weight.bits}-bit codes times one scale */\n"
              + _array("uint8_t", "fw_importance_codes", _packed(weight.values, weight.bits), hex)
              + f"static const float fw_importance_scale = {_float(weight.scales[0])};\n")
    return arrays, f"#define FW_IMPORTANCE_STORAGE FW_STORAGE_CODES\n#define FW_IMPORTANCE_BITS {weight.bits}\n"


def panel_widths(rows: int) -> list[int]:
    """Rows per panel of a matrix (see fw_matvec_add): PANEL while that many are left, then PANEL_SMALL, then the
    rest."""
    widths = [PANEL] * (rows // PANEL) + [PANEL_SMALL] * (rows % PANEL // PANEL_SMALL)
    return widths + ([rows % PANEL_SMALL] if rows % PANEL_SMALL else [])


def panels(values: np.ndarray) -> np.ndarray:
    """A (rows, cols) matrix as fw_matvec_add reads it: its panels of rows, each stored column by column, flat."""
    starts = np.cumsum([0] + panel_widths(len(values)))
    return np.concatenate([values[a:b].T.ravel() for a, b in zip(starts[:-1], starts[1:])])


def _matrix(name: str, weight, lowbit: bool) -> str:
    """A weight matrix the code multiplies with, as an fw_matrix: symmetric int8 rows in panels (see `panels`), or
    (bits < 8) the same panel order of b-bit codes packed flat; float scales either way (b-bit: the float16 values).
    `lowbit`: the export has b-bit matrices (FW_LOWBIT_MATRICES), so every fw_matrix carries their fields."""
    if not isinstance(weight, QuantizedTensor):
        raise TypeError(f"Expected int8 rows for {name}, got {type(weight).__name__}.")
    if weight.zero_points is not None or weight.pq is not None:
        raise NotImplementedError(f"{name}: the C export multiplies with symmetric int8 rows only (zero points "
                                  "and product quantization are supported for embedding tables).")
    rows, cols = weight.shape
    ordered = panels(np.asarray(weight.values).reshape(rows, cols))
    if weight.bits < 8:
        arrays = _array("uint8_t", f"{name}_codes", _packed(ordered, weight.bits), hex)
        int8_codes, packed_fields = "0", f", {name}_codes, {weight.bits}"
    else:
        arrays = _array("int8_t", f"{name}_q", ordered)
        int8_codes, packed_fields = f"{name}_q", ", 0, 8" if lowbit else ""
    return (arrays + _array("float", f"{name}_scale", weight.scales, _float)
            + f"static const fw_matrix {name} = {{{int8_codes}, {name}_scale, {rows}, {cols}{packed_fields}}};\n")


def _lowbit_matrices(weights: dict) -> bool:
    """True when an encoder or classifier matrix has codes below 8 bits."""
    return any(isinstance(weight, QuantizedTensor) and weight.bits < 8 for name, weight in weights.items()
               if name.startswith(("encoder.", "classifier.")))


def _model_parts(meta: StudentMeta, weights: dict) -> tuple[str, str]:
    """(macros, weight tables) of embedding, encoder and classifier."""
    config = meta.student
    lowbit = _lowbit_matrices(weights)
    macros = (f"#define FW_PANEL {PANEL} /* rows per weight panel: the layout of the matrices below */\n"
              f"#define FW_PANEL_SMALL {PANEL_SMALL}\n#define FW_LOWBIT_MATRICES {int(lowbit)}\n")
    tables = "/* ---- weights: int8 or packed b-bit rows with scales (matrices in panels of rows) ---- */\n"
    hashed = "embedding.table.weight" not in weights
    if hashed:
        table = weights["embedding.components.weight"]
        arrays, storage = _table("fw_components", table)
        importance, importance_storage = _importance(weights["embedding.importance.weight"])
        arrays += importance
        storage += importance_storage
    else:
        table = weights["embedding.table.weight"]
        arrays, storage = _table("fw_embedding", table)
    macros += f"#define FW_EMBED_HASH {int(hashed)}\n{storage}#define FW_EMBEDDING_DIM {table.shape[1]}\n"
    tables += arrays
    arch = config.arch
    macros += f"#define FW_ENCODER {ENCODERS[arch]}\n#define FW_POOLING {POOLINGS[config.pooling]}\n"
    if arch != "ffn":
        macros += f"#define FW_HIDDEN {config.hidden_dim}\n"
        tables += _recurrent_tables(weights, lowbit)
    linear = sorted({int(name.split(".")[1]) for name in weights if name.startswith("classifier.")})
    if len(linear) == 2:
        tables += _matrix("fw_hidden_layer", weights[f"classifier.{linear[0]}.weight"], lowbit)
        tables += _array("float", "fw_hidden_bias", weights[f"classifier.{linear[0]}.bias"], _float)
        macros += f"#define FW_CLASSIFIER_HIDDEN {weights[f'classifier.{linear[0]}.weight'].shape[0]}\n"
    else:
        macros += "#define FW_CLASSIFIER_HIDDEN 0\n"
    tables += _matrix("fw_output_layer", weights[f"classifier.{linear[-1]}.weight"], lowbit)
    tables += _array("float", "fw_output_bias", weights[f"classifier.{linear[-1]}.bias"], _float)
    return macros, tables


def _recurrent_tables(weights: dict, lowbit: bool) -> str:
    """The matrices and summed biases of both directions of the recurrent layer."""
    tables = ""
    for direction, suffix in (("forward", ""), ("backward", "_reverse")):
        prefix = "encoder.rnn."
        tables += _matrix(f"fw_{direction}_ih", weights[f"{prefix}weight_ih_l0{suffix}"], lowbit)
        tables += _matrix(f"fw_{direction}_hh", weights[f"{prefix}weight_hh_l0{suffix}"], lowbit)
        bias = (np.asarray(weights[f"{prefix}bias_ih_l0{suffix}"], np.float32)
                + np.asarray(weights[f"{prefix}bias_hh_l0{suffix}"], np.float32))
        tables += _array("float", f"fw_{direction}_bias", bias, _float)
    return tables


def storage_note(weights: dict) -> str:
    """How the weights are stored, e.g. "int8 rows, 4-bit rows, hash importance float16"."""
    kinds = []
    for name, weight in weights.items():
        if not isinstance(weight, QuantizedTensor):
            kinds += ["hash importance float16"] if name.endswith("importance.weight") else []
        elif weight.pq is not None:
            kinds.append(f"product-quantized table ({weight.pq[2]}-bit codes, int8 codebooks, one scale)")
        elif weight.per_tensor:
            kinds.append(f"hash importance {weight.bits}-bit (one scale)")
        else:
            kinds.append("int8 rows" if weight.bits == 8 else f"{weight.bits}-bit rows")
    return ", ".join(dict.fromkeys(kinds))


def describe(meta: StudentMeta) -> str:
    config, embedding = meta.student, meta.embedding
    encoder = ("bag of embeddings" if config.arch == "ffn"
               else f"{config.arch} (hidden {config.hidden_dim} per direction)")
    return (f"Featherweight student: {meta.task}, {encoder}, {config.pooling} pooling, "
            f"{embedding.type} embedding dim {embedding.dim}, classifier {config.classifier_dim}, "
            f"{meta.num_labels} labels.")


def _header(meta: StudentMeta, port: dict, id_type: str) -> str:
    """The header before renaming: what the model is, its sizes and id type, the label enum (placeholder), then the
    runtime's declarations (c/fw_api.h)."""
    ids_note = "one id"
    if port["type"] == "hash":
        n = port["hash"].get("word_ngrams", 1)
        ids_note = "component ids, then the importance id" + (f", of the word, then of the m-grams ending at it, "
                                                              f"m = 2..{n}" if n > 1 else "")
    usage = ('int label = fw_predict_pair("A man plays.", "Someone plays.", logits);' if meta.pair
             else 'int label = fw_predict("a charming, funny film", logits);')
    return ("/* fw_model.h: generated by `featherweight export --format c`; do not edit.\n"
            f" * {describe(meta)}\n *\n"
            f" * Usage:  float logits[FW_NUM_LABELS];\n *         {usage}\n */\n"
            "#ifndef FW_MODEL_H\n#define FW_MODEL_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n"
            '#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
            f"#define FW_NUM_LABELS {meta.num_labels}\n"
            f"#define FW_MAX_TOKENS {port['max_length']}    /* the tokenizer keeps at most this many tokens */\n"
            f"#define FW_IDS_PER_TOKEN {port['ids_per_token']} /* ids per token: {ids_note} */\n"
            f"#define FW_PAIR {int(meta.pair)}            /* 1: the model reads a sentence pair */\n\n"
            f"typedef {id_type} fw_id_t;\n\n{_LABELS}\n\n"
            + c_runtime.read(c_runtime.API_HEADER)
            + "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* FW_MODEL_H */\n")


def _source(meta: StudentMeta, weights: dict, port: dict, source_name: str, header_name: str) -> str:
    """The source before renaming: the model's switches and sizes, c/fw_runtime.h, the tables, the label names
    (placeholder), then the runtime's code files."""
    norm_macros, norm_tables = _normalisation_tables(port)
    tok_macros, tok_tables = _tokenizer_tables(port)
    model_macros, model_tables = _model_parts(meta, weights)
    return (f"/* {source_name}: generated by `featherweight export --format c`; do not edit.\n"
            f" * {describe(meta)}\n"
            f" * C99, no dynamic allocation. Weights: {storage_note(weights)};\n"
            " * activations and accumulation float. Tokenizer: the export's port.json tables.\n"
            " * Generated: the model's switches, sizes and tables; the rest is the C runtime\n"
            " * (featherweight/deploy/c), copied verbatim.\n */\n"
            f'#include "{header_name}"\n\n'
            "/* ---- this model: the runtime's switches and sizes (see fw_runtime.h) ---- */\n"
            + norm_macros + tok_macros + model_macros + "\n"
            + c_runtime.read(c_runtime.RUNTIME_HEADER) + "\n"
            "/* ---- this model's tables ---- */\n"
            + norm_tables + tok_tables + "\n" + model_tables
            + f"\nconst char *const fw_label_names[FW_NUM_LABELS] = {{{_LABELS}}};\n\n"
            + c_runtime.runtime_code())


def write_c(meta: StudentMeta, weights: dict, port: dict, directory, prefix: str = "fw") -> tuple[Path, Path]:
    """Write <prefix>_model.c and <prefix>_model.h into `directory`; returns their paths."""
    check_prefix(prefix)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source_name, header_name = source_names(prefix)
    header = _header(meta, port, _uint_type(max(port["max_length"], _max_id(port, weights))))
    source = _source(meta, weights, port, source_name, header_name)
    upper = prefix.upper()
    rename = lambda text: text.replace("fw_", f"{prefix}_").replace("FW_", f"{upper}_")
    source_path, header_path = directory / source_name, directory / header_name
    # the labels go in after the renaming, which must not touch them
    names = ", ".join(_c_string(str(name)) for name in meta.label_names)
    source_path.write_text(rename(source).replace(_LABELS, names), encoding="utf-8")
    header_path.write_text(rename(header).replace(_LABELS, _label_enum(meta.label_names, prefix)),
                           encoding="utf-8")
    return source_path, header_path


def _max_id(port: dict, weights: dict) -> int:
    if port["type"] == "hash":
        return max(port["hash"]["num_components"], port["hash"]["num_buckets"])
    table = weights["embedding.table.weight"]
    return table.shape[0]
