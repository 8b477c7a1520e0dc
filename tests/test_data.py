"""GLUE reading, validation errors, the held-out split and the download fallback."""
from __future__ import annotations

import http.server
import io
import threading
import zipfile

import numpy as np
import pytest

from conftest import SHARED_GLUE, write_tsv
from featherweight.data import DataConfig, DataError, get_task, heldout_indices, load_splits, read_task_file


def test_reads_sst2_texts_labels_and_line_numbers(glue_dir):
    """A GLUE SST-2 file becomes texts, integer labels and 1-based source lines."""
    data = read_task_file(glue_dir / "SST-2" / "train.tsv", get_task("sst-2"))
    assert len(data) == 200 and data.texts_b is None
    assert set(np.unique(data.labels)) == {0, 1}
    assert data.line_numbers[0] == 2


def test_reads_pairs_for_qqp_and_mnli(glue_dir):
    """Pair tasks yield two texts per row and their own label order."""
    qqp = read_task_file(glue_dir / "QQP" / "train.tsv", get_task("qqp"))
    mnli = read_task_file(glue_dir / "MNLI" / "train.tsv", get_task("mnli"))
    assert qqp.texts_b is not None and len(qqp.texts_b) == len(qqp)
    assert list(mnli.labels[:3]) == [0, 1, 2]  # entailment, neutral, contradiction


def test_missing_file_names_the_path(tmp_path):
    """A missing file is an error that names it and says how to fix it."""
    with pytest.raises(DataError, match=r"train\.tsv: file not found.*--glue-dir"):
        read_task_file(tmp_path / "train.tsv", get_task("sst-2"))


def test_missing_column_names_file_and_header(tmp_path):
    """A header without the task's columns is reported at line 1 with what was found."""
    path = write_tsv(tmp_path / "train.tsv", ["text", "label"], [["good", 1]])
    with pytest.raises(DataError, match=r"train\.tsv:1: missing column\(s\) \['sentence'\]"):
        read_task_file(path, get_task("sst-2"))


def test_unknown_label_names_file_and_line(tmp_path):
    """An unknown label is an error naming file, line and the labels expected."""
    path = write_tsv(tmp_path / "train.tsv", ["sentence", "label"], [["good", 1], ["bad", "neg"]])
    with pytest.raises(DataError, match=r"train\.tsv:3: unknown label: 'neg'.*\['0', '1'\]"):
        read_task_file(path, get_task("sst-2"))


def test_wrong_field_count_names_file_and_line(tmp_path):
    """A row with too many tab-separated fields is reported with its line."""
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nbad\t0\textra\n")
    with pytest.raises(DataError, match=r"train\.tsv:3: wrong field count: found 3.*expected 2"):
        read_task_file(path, get_task("sst-2"))


def test_skipped_rows_are_counted_by_reason(tmp_path, caplog):
    """With skip_bad_rows, bad rows are counted per reason and logged, never dropped silently."""
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nbad\t7\n\t0\nfine\t1\tx\nok\t0\n")
    data = read_task_file(path, get_task("sst-2"), skip_bad_rows=True)
    assert data.texts_a == ["good", "ok"]
    assert dict(data.skipped) == {"unknown label": 1, "empty text": 1, "wrong field count": 1}
    assert "skipped 3 bad rows" in caplog.text


def test_unlabelled_read_needs_only_text_columns(tmp_path):
    """Unlabelled files (like SST-2 test) read without a label column."""
    path = write_tsv(tmp_path / "test.tsv", ["index", "sentence"], [[0, "good"], [1, "bad"]])
    data = read_task_file(path, get_task("sst-2"), labelled=False)
    assert data.labels is None and data.texts_a == ["good", "bad"]


def test_heldout_split_is_seeded_disjoint_and_complete():
    """The held-out slice is the same for the same seed, disjoint from train, and covers all rows."""
    train, heldout = heldout_indices(1000, 0.05, seed=0)
    again = heldout_indices(1000, 0.05, seed=0)
    other = heldout_indices(1000, 0.05, seed=1)
    assert len(heldout) == 50 and len(train) == 950
    assert not set(train) & set(heldout) and set(train) | set(heldout) == set(range(1000))
    assert np.array_equal(heldout, again[1]) and not np.array_equal(heldout, other[1])


def test_load_splits_keeps_dev_apart(glue_dir):
    """load_splits returns train minus held-out, the held-out slice and the dev split."""
    splits = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir), heldout_fraction=0.1))
    assert set(splits) == {"train", "heldout", "dev"}
    assert len(splits["train"]) + len(splits["heldout"]) == 200
    assert not set(splits["train"].line_numbers) & set(splits["heldout"].line_numbers)


def test_mnli_without_mismatched_file_reports_matched_only(glue_dir):
    """The MNLI-10k layout (no mismatched file) still loads, with dev_matched only."""
    splits = load_splits(DataConfig(task="mnli", glue_dir=str(glue_dir)))
    assert "dev_matched" in splits and "dev_mismatched" not in splits


def test_unknown_task_lists_the_known_ones():
    """An unknown task name is an error listing the tasks Featherweight knows."""
    with pytest.raises(ValueError, match="Unknown task 'cola'.*sst-2, qqp, mnli"):
        get_task("cola")


@pytest.fixture
def glue_zip_server(glue_dir):
    """An HTTP server on 127.0.0.1 serving an SST-2.zip built from the toy files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("train.tsv", "dev.tsv"):
            archive.write(glue_dir / "SST-2" / name, f"SST-2/{name}")
    payload = buffer.getvalue()
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/SST-2.zip", requests
    server.shutdown()


def test_missing_task_files_are_downloaded_into_the_cache(tmp_path, monkeypatch, glue_zip_server):
    """Without local files, the GLUE zip is downloaded once into the cache and then reused."""
    url, requests = glue_zip_server
    monkeypatch.setenv("FEATHERWEIGHT_CACHE", str(tmp_path / "cache"))
    config = DataConfig(task="sst-2", glue_dir=str(tmp_path / "empty"), download_url=url)
    splits = load_splits(config, show_progress=False)
    assert len(splits["dev"]) == 60
    assert (tmp_path / "cache" / "glue" / "SST-2" / "train.tsv").is_file()
    load_splits(config, show_progress=False)
    assert requests == ["/SST-2.zip"]


def test_unreachable_download_says_what_to_do(tmp_path, monkeypatch):
    """A failed download is a ConnectionError that names the URL and the place to put the file."""
    monkeypatch.setenv("FEATHERWEIGHT_CACHE", str(tmp_path / "cache"))
    config = DataConfig(task="sst-2", glue_dir=str(tmp_path), download_url="http://127.0.0.1:9/SST-2.zip")
    with pytest.raises(ConnectionError, match=r"Could not download http://127.0.0.1:9/SST-2.zip"):
        load_splits(config, show_progress=False)


@pytest.mark.skipif(not (SHARED_GLUE / "SST-2").is_dir(), reason="../shared/data/glue is not beside this checkout")
def test_real_sst2_files_read_completely():
    """The real GLUE SST-2 train and dev files read without a bad row."""
    splits = load_splits(DataConfig(task="sst-2", glue_dir=str(SHARED_GLUE)), show_progress=False)
    assert len(splits["train"]) + len(splits["heldout"]) == 67349
    assert len(splits["dev"]) == 872
    assert not splits["train"].skipped
