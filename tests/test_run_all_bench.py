"""bench/run_all.py: every committed result has a step, steps run in order when an output is missing."""
from __future__ import annotations

from pathlib import Path

from conftest import BENCH_DIR, load_bench


def test_every_step_runs_an_existing_benchmark_and_every_committed_result_has_a_step():
    """Each result under bench/results (soft targets and the study table included) is an output of a step; a
    <stem>_meta.json sidecar, or the .json beside a .npz, is written with it."""
    run_all = load_bench("run_all")
    root = BENCH_DIR.parent
    for step in run_all.STEPS:
        assert all((root / command[0]).is_file() for command in step.commands), step.name
    covered = {Path(output) for step in run_all.STEPS for output in step.outputs}
    results = [path.relative_to(root) for path in (BENCH_DIR / "results").rglob("*")
               if path.suffix in (".json", ".jsonl", ".npz") and not path.stem.endswith("_meta")]
    assert results and not [path for path in results
                            if path not in covered and path.with_suffix(".npz") not in covered]


def test_steps_with_missing_outputs_run_in_order_unless_forced(tmp_path, monkeypatch):
    run_all = load_bench("run_all")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    steps = (run_all.Step("a", (("x.py",),), ("out/a.json",)), run_all.Step("b", (("y.py",),), ("out/b.json",)))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.json").write_text("{}")
    assert [s.name for s in run_all.chosen(steps, None, False)] == ["b"]
    assert [s.name for s in run_all.chosen(steps, None, True)] == ["a", "b"]
    assert [s.name for s in run_all.chosen(steps, ["a"], False)] == []
    assert [s.name for s in run_all.chosen(steps, ["a"], True)] == ["a"]
