"""bench/teacher.py's results file: one entry per teacher, the MiniLM one also at the top level."""
from __future__ import annotations

import json

from conftest import load_bench


def test_each_teacher_is_listed_and_the_default_stays_on_top(tmp_path, monkeypatch):
    bench = load_bench("teacher")
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    old = {"teacher": "MiniLM", "dev_accuracy": 0.89, "epochs": 2, "command": "python bench/teacher.py"}
    (tmp_path / "teacher_sst2.json").write_text(json.dumps(old))  # written before the list existed
    bench.write_result("mpnet", {"teacher": "MPNet", "dev_accuracy": 0.93, "epochs": 1, "finetune_device": {"device": "cpu"}})
    saved = json.loads((tmp_path / "teacher_sst2.json").read_text())
    assert saved["dev_accuracy"] == 0.89 and saved["teacher"] == "MiniLM"  # what the other benchmarks read
    assert saved["teachers"]["minilm"]["dev_accuracy"] == 0.89
    assert saved["teachers"]["mpnet"] == {**dict.fromkeys(bench.LISTED), "teacher": "MPNet", "dev_accuracy": 0.93,
                                          "epochs": 1, "finetune_device": {"device": "cpu"}}
    bench.write_result("minilm", {**old, "dev_accuracy": 0.9})
    saved = json.loads((tmp_path / "teacher_sst2.json").read_text())
    assert saved["dev_accuracy"] == 0.9 and set(saved["teachers"]) == {"minilm", "mpnet"}
