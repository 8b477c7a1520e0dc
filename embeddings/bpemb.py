"""BPEmb files: find them in a cache directory (BPEmb layout), download them, read word2vec vectors."""
import logging
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BPEMB_URL = "https://bpemb.h-its.org"
DEFAULT_CACHE = Path.home() / ".cache" / "bpemb"
BPEMB_DIMS = (25, 50, 100, 200, 300)


def bpemb_names(lang: str, vocab_size: int, dim: int) -> tuple:
    """(model name, vector names in preference order), relative to the cache directory."""
    stem = f"{lang}/{lang}.wiki.bpe.vs{vocab_size}"
    return f"{stem}.model", (f"{stem}.d{dim}.w2v.txt", f"{stem}.d{dim}.w2v.bin")


def find_bpemb(cache_dir, lang: str, vocab_size: int, dim: int):
    """(model path, vectors path) if both are in `cache_dir`, else None."""
    model, vector_names = bpemb_names(lang, vocab_size, dim)
    model = Path(cache_dir) / model
    vectors = [Path(cache_dir) / v for v in vector_names if (Path(cache_dir) / v).is_file()]
    return (model, vectors[0]) if model.is_file() and vectors else None


def download_bpemb(cache_dir, lang: str, vocab_size: int, dim: int, base_url: str = BPEMB_URL,
                   timeout: float = 10.0) -> tuple:
    """Fetch the model and the binary vectors (.w2v.bin.tar.gz, as the bpemb package does) into `cache_dir`."""
    model, (_, vectors_bin) = bpemb_names(lang, vocab_size, dim)
    model_path, vectors_path = Path(cache_dir) / model, Path(cache_dir) / vectors_bin
    _fetch(f"{base_url.rstrip('/')}/{model}", model_path, timeout)
    archive = vectors_path.with_name(vectors_path.name + ".tar.gz")
    _fetch(f"{base_url.rstrip('/')}/{vectors_bin}.tar.gz", archive, timeout)
    with tarfile.open(archive) as tar:  # copy the one member's bytes; never extract paths from the archive
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".w2v.bin")]
        if not members:
            raise ValueError(f"{archive} holds no *.w2v.bin file; got {tar.getnames()}.")
        _write_atomic(vectors_path, tar.extractfile(members[0]).read())
    archive.unlink()
    return model_path, vectors_path


def _fetch(url: str, path: Path, timeout: float) -> None:
    log.info("downloading %s", url)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        _write_atomic(path, response.read())


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def read_word2vec(path) -> tuple:
    """(words, float32 vectors (V, D)) from a word2vec file, text (.txt) or binary (.bin)."""
    path = Path(path)
    data = path.read_bytes()
    header_end = data.index(b"\n") if b"\n" in data else len(data)
    try:
        count, dim = (int(x) for x in data[:header_end].split())
    except ValueError:
        raise ValueError(f"{path}:1: expected a word2vec header 'COUNT DIM', found {data[:80]!r}.") from None
    body = data[header_end + 1:]
    if path.suffix == ".bin":
        return _read_binary(path, body, count, dim)
    return _read_text(path, body.decode("utf-8"), count, dim)


def _read_text(path: Path, body: str, count: int, dim: int) -> tuple:
    words, rows = [], []
    for lineno, line in enumerate(body.split("\n"), start=2):
        if not line.strip():
            continue
        parts = line.rstrip("\r ").split(" ")
        if len(parts) < dim + 1:
            raise ValueError(f"{path}:{lineno}: expected a word and {dim} numbers, found {len(parts)} fields.")
        words.append(" ".join(parts[:-dim]))
        rows.append(np.asarray(parts[-dim:], dtype=np.float32))
    if len(words) != count:
        raise ValueError(f"{path}: header says {count} vectors, found {len(words)}.")
    return words, np.stack(rows) if rows else np.zeros((0, dim), np.float32)


def _read_binary(path: Path, body: bytes, count: int, dim: int) -> tuple:
    words, vectors, pos = [], np.zeros((count, dim), np.float32), 0
    for i in range(count):
        space = body.find(b" ", pos)
        if space < 0 or space + 1 + 4 * dim > len(body):
            raise ValueError(f"{path}: vector {i + 1} of {count} is truncated; the file is incomplete.")
        words.append(body[pos:space].decode("utf-8").lstrip("\n"))
        vectors[i] = np.frombuffer(body, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + 4 * dim
    return words, vectors


def align_vectors(pieces: list, words: list, vectors: np.ndarray, seed: int) -> np.ndarray:
    """One row per model piece, matched by piece string; unmatched pieces get seeded random rows."""
    index = {w: i for i, w in enumerate(words)}
    rows = [index.get(p) for p in pieces]
    matched = [i for i, r in enumerate(rows) if r is not None]
    if len(matched) < len(pieces) / 2:
        raise ValueError(f"Only {len(matched)} of {len(pieces)} model pieces have a vector; "
                         "the vectors file does not belong to this model.")
    if len(matched) < len(pieces):
        log.warning("%d of %d pieces have no BPEmb vector; they start random", len(pieces) - len(matched), len(pieces))
    out = np.random.default_rng(seed).standard_normal((len(pieces), vectors.shape[1])) * vectors.std()
    out[matched] = vectors[[rows[i] for i in matched]]
    return out.astype(np.float32)
