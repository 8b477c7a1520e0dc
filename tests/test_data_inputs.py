"""User input files: a UTF-8 byte-order mark is accepted, bad data names file:line, --glue-dir is checked."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import write_tsv
from featherweight.cli import main
from featherweight.data import DataConfig, DataError, get_task, read_task_file

BOM = "\ufeff"
SST2 = get_task("sst-2")


def _with_bom(path, target):
    """Copy the text file `path` to `target` with a UTF-8 byte-order mark in front."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(BOM.encode() + path.read_bytes())
    return target


def test_task_file_with_a_byte_order_mark_reads_like_one_without(glue_dir, tmp_path):
    """A TSV saved with a UTF-8 BOM (e.g. by Excel or Notepad) gives the same rows as the plain file."""
    plain = glue_dir / "SST-2" / "train.tsv"  # its first column, "sentence", is one the task needs
    marked = read_task_file(_with_bom(plain, tmp_path / "train.tsv"), SST2)
    expected = read_task_file(plain, SST2)
    assert marked.texts() == expected.texts()
    assert np.array_equal(marked.labels, expected.labels)
    assert np.array_equal(marked.line_numbers, expected.line_numbers)


def test_glue_dir_with_byte_order_marks_loads_its_splits(glue_dir, tmp_path):
    """Train and dev files with a BOM load through load_splits (the path of compose, distill and evaluate)."""
    from featherweight.data import load_splits

    for name in ("train.tsv", "dev.tsv"):
        _with_bom(glue_dir / "SST-2" / name, tmp_path / "SST-2" / name)
    splits = load_splits(DataConfig(task="sst-2", glue_dir=str(tmp_path)), show_progress=False)
    plain = load_splits(DataConfig(task="sst-2", glue_dir=str(glue_dir)), show_progress=False)
    assert splits["train"].texts() == plain["train"].texts() and splits["dev"].texts() == plain["dev"].texts()


def test_augment_input_file_with_a_byte_order_mark_augments_like_one_without(glue_dir, tmp_path):
    """`augment --input-file` of a BOM file writes the same rows, under a header without the mark."""
    from featherweight.augment import AugmentConfig, augment
    from conftest import build_tiny_glove

    glove = build_tiny_glove(tmp_path / "glove")
    source = write_tsv(tmp_path / "plain.tsv", ["sentence", "label"],
                       [["the film is good", 1], ["a very dull story", 0], ["really lovely acting", 1]])
    outputs = []
    for name, path in (("plain", source), ("marked", _with_bom(source, tmp_path / "marked.tsv"))):
        config = AugmentConfig(data=DataConfig(task="sst-2", glue_dir=str(glue_dir)), input_file=str(path),
                               output=str(tmp_path / name / "augmented.tsv"), glove_dir=str(glove), samples=4,
                               top_k=4, progress=False)
        augment(config)
        outputs.append((tmp_path / name / "augmented.tsv").read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] and outputs[1].startswith("sentence\tlabel\n")


def test_grid_yaml_with_a_byte_order_mark_loads_and_one_not_utf8_is_named(tmp_path):
    """A sweep grid saved with a BOM loads to the same mapping; a Latin-1 one is a DataError at file:line."""
    from featherweight.experiments.sweep import load_grid

    text = "archs: [bilstm, ffn]\nseeds: [1, 2]\ntask: sst-2\n"
    (tmp_path / "plain.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "marked.yaml").write_text(BOM + text, encoding="utf-8")
    assert load_grid(tmp_path / "marked.yaml") == load_grid(tmp_path / "plain.yaml") == {
        "archs": ["bilstm", "ffn"], "seeds": [1, 2], "task": "sst-2"}
    (tmp_path / "latin1.yaml").write_bytes("task: sst-2\nnote: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.yaml:2 is not UTF-8 text \(byte 0xe9 at column 10\)"):
        load_grid(tmp_path / "latin1.yaml")


def test_json_with_a_byte_order_mark_loads(tmp_path):
    """read_json accepts a BOM and names file:line:column of broken JSON."""
    from featherweight.config_io import read_json

    (tmp_path / "a.json").write_text(BOM + '{"epochs": 2}', encoding="utf-8")
    assert read_json(tmp_path / "a.json") == {"epochs": 2}
    (tmp_path / "b.json").write_text('{"epochs": 2,\n}', encoding="utf-8")
    with pytest.raises(DataError, match=r"b\.json:2:1: not valid JSON"):
        read_json(tmp_path / "b.json")


def test_saved_soft_targets_with_a_byte_order_mark_in_their_json_load(glue_dir, tmp_path):
    """--soft-targets FILE whose metadata JSON was re-saved with a BOM still loads."""
    from featherweight.fingerprint import file_sha256
    from featherweight.teacher.soft_targets import load_soft_targets

    data_file = glue_dir / "SST-2" / "dev.tsv"
    np.savez(tmp_path / "targets.npz", logits=np.zeros((60, 2), np.float32), line_numbers=np.arange(2, 62))
    meta = {"data_sha256": file_sha256(data_file), "task": "sst-2"}
    (tmp_path / "targets.json").write_text(BOM + json.dumps(meta), encoding="utf-8")
    targets = load_soft_targets(tmp_path / "targets.npz", data_file)
    assert targets.logits.shape == (60, 2) and targets.meta["task"] == "sst-2"


def test_file_that_is_not_utf8_names_line_byte_and_column(tmp_path):
    """A Latin-1 file is one DataError naming file:line, the byte and its column, not a UnicodeDecodeError."""
    path = tmp_path / "train.tsv"
    path.write_bytes("sentence\tlabel\ngood\t1\ncaf\u00e9 film\t0\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.tsv:3 is not UTF-8 text \(byte 0xe9 at column 4\); "
                                        r"save the file as UTF-8"):
        read_task_file(path, SST2)


def test_not_utf8_column_counts_characters_and_skips_the_byte_order_mark(tmp_path):
    """The column is in characters of the line, the BOM not counted."""
    path = tmp_path / "train.tsv"
    path.write_bytes(BOM.encode() + "s\u00e9ntence".encode() + b"\xff\tlabel\n")
    with pytest.raises(DataError, match=r"train\.tsv:1 is not UTF-8 text \(byte 0xff at column 9\)"):
        read_task_file(path, SST2)


def test_empty_file_says_what_a_task_file_holds(tmp_path):
    """An empty file is an error saying a header line and rows were expected."""
    (tmp_path / "train.tsv").write_text("")
    with pytest.raises(DataError, match=r"train\.tsv: the file is empty; expected a tab-separated header line "
                                        r"with columns \['sentence', 'label'\]"):
        read_task_file(tmp_path / "train.tsv", SST2)


def test_header_only_file_says_the_rows_are_missing(tmp_path):
    """A file with a header and no rows is an error, not an empty dataset that fails later."""
    path = write_tsv(tmp_path / "train.tsv", ["sentence", "label"], [])
    with pytest.raises(DataError, match=r"train\.tsv: only a header line, no rows; expected one row per line"):
        read_task_file(path, SST2)


def test_file_whose_rows_are_all_skipped_is_an_error(tmp_path):
    """With --skip-bad-rows, a file with no usable row says so with the counts per reason."""
    path = write_tsv(tmp_path / "train.tsv", ["sentence", "label"], [["good", 7], ["bad", 9]])
    with pytest.raises(DataError, match=r"train\.tsv: all 2 rows are bad \(unknown label: 2\)"):
        read_task_file(path, SST2, skip_bad_rows=True)


def test_comma_separated_header_gets_a_hint(tmp_path):
    """A CSV header is reported as missing columns with a hint to save the file tab-separated."""
    (tmp_path / "train.csv").write_text("sentence,label\ngood,1\n")
    with pytest.raises(DataError, match=r"train\.csv:1: missing column.*save the file tab-separated"):
        read_task_file(tmp_path / "train.csv", SST2)


def test_empty_text_names_file_line_column_and_fix(tmp_path):
    """An empty text is reported at its line, with the column and both ways out."""
    path = write_tsv(tmp_path / "train.tsv", ["sentence", "label"], [["good", 1], ["  ", 0]])
    with pytest.raises(DataError, match=r"train\.tsv:3: empty text: column 'sentence' is empty, expected a text\. "
                                        r"Fix the row, or pass --skip-bad-rows"):
        read_task_file(path, SST2)


def test_unknown_label_names_what_was_found_and_expected(tmp_path):
    """A label outside the task's labels is reported with the value found and the values expected."""
    path = write_tsv(tmp_path / "train.tsv", ["sentence", "label"], [["good", "positive"]])
    with pytest.raises(DataError, match=r"train\.tsv:2: unknown label: 'positive' in column 'label', "
                                        r"expected one of \['0', '1'\]\. Fix the row"):
        read_task_file(path, SST2)


def test_wrong_field_count_hints_at_a_tab_inside_a_text(tmp_path):
    """A row with an extra field names both counts and the usual cause."""
    (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood\tfilm\t1\n")
    with pytest.raises(DataError, match=r"train\.tsv:2: wrong field count: found 3 tab-separated fields, "
                                        r"expected 2 like the header \(a tab inside a text splits it\)"):
        read_task_file(tmp_path / "train.tsv", SST2)


def test_skipped_rows_are_logged_per_reason_with_the_file(tmp_path, caplog):
    """--skip-bad-rows logs the file and the count of each reason."""
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nbad\t7\nworse\t8\n\t0\nok\t0\n")
    read_task_file(path, SST2, skip_bad_rows=True)
    assert f"{path}: skipped 3 bad rows (unknown label: 2, empty text: 1)" in caplog.text


@pytest.mark.parametrize("command", ["evaluate", "compress"])
def test_missing_glue_dir_is_a_missing_directory_not_a_download(command, finetuned_teacher, tmp_path, caplog,
                                                                 monkeypatch):
    """A --glue-dir that does not exist exits 2 naming the directory, and nothing is downloaded."""
    import featherweight.data.splits as splits

    monkeypatch.setattr(splits, "download", lambda *a, **k: pytest.fail("downloaded despite --glue-dir"))
    missing = tmp_path / "no-such-glue"
    options = {"evaluate": ["--model", str(finetuned_teacher)],
               "compress": ["--alpha", "1", "--work-dir", str(tmp_path / "work"),
                            "--output-dir", str(tmp_path / "student")]}[command]
    code = main([command, *options, "--glue-dir", str(missing), "--no-progress", "--no-record"])
    assert code == 2
    assert f"--glue-dir {missing} does not exist; pass the directory that holds SST-2/, QQP/, MNLI/" in caplog.text


def test_glue_dir_without_the_task_files_names_the_file_and_where_it_looked(glue_dir, finetuned_teacher, tmp_path,
                                                                            caplog, monkeypatch):
    """An existing --glue-dir lacking the task's files names the missing file's path and offers the download."""
    import featherweight.data.splits as splits

    monkeypatch.setattr(splits, "download", lambda *a, **k: pytest.fail("downloaded despite --glue-dir"))
    monkeypatch.setenv("FEATHERWEIGHT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "glue" / "SST-2").mkdir(parents=True)
    (tmp_path / "glue" / "SST-2" / "train.tsv").write_bytes((glue_dir / "SST-2" / "train.tsv").read_bytes())
    code = main(["evaluate", "--model", str(finetuned_teacher), "--glue-dir", str(tmp_path / "glue"),
                 "--no-record"])
    assert code == 2
    looked = tmp_path / "glue" / "SST-2" / "dev.tsv"
    assert f"--glue-dir {tmp_path / 'glue'}: no SST-2/dev.tsv (looked for {looked})" in caplog.text
    assert f"leave --glue-dir unset to download {SST2.download_url} into {tmp_path / 'cache' / 'glue'}" in caplog.text
