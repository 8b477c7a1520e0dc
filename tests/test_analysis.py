"""Analysis: the skyline function, and the skyline, parameter and weight plots written as PNG and PDF."""
from __future__ import annotations

import math

import numpy as np
import pytest

from featherweight.analysis.figures import output_paths
from featherweight.analysis.plot import AnalyzePlotConfig, analyze_plot
from featherweight.analysis.reference import PUBLISHED_BASELINES, THESIS_TABLE_7_5, VARIANTS
from featherweight.analysis.skyline import (Point, against_reference, plot_skyline, points_from_rows, skyline,
                                           thesis_points)
from featherweight.student_meta import EmbeddingMeta, StudentMeta, write_student_meta
from featherweight.students import student_preset

PNG_MAGIC, PDF_MAGIC = b"\x89PNG\r\n\x1a\n", b"%PDF"


def _written(paths) -> None:
    for path in paths:
        assert path.read_bytes()[:8].startswith(PNG_MAGIC if path.suffix == ".png" else PDF_MAGIC), path


def test_skyline_flags_points_that_no_smaller_point_beats():
    """A point is on the skyline unless a point at most as large scores at least as well."""
    points = [(10, 80.0), (20, 79.0), (30, 85.0), (30, 84.0), (40, 85.0), (5, 70.0), (50, 90.0)]
    assert skyline(points) == [True, False, True, False, False, True, True]


def test_identical_points_are_all_on_the_skyline_and_empty_is_empty():
    """Ties in both size and score do not dominate each other; no points give no flags."""
    assert skyline([(10, 80.0), (10, 80.0), (10, 79.0)]) == [True, True, False]
    assert skyline([]) == []


def test_skyline_rejects_points_that_are_not_numbers():
    """A NaN or missing size or score is an error naming the point."""
    with pytest.raises(ValueError, match="Point 1 has size 3 and score nan"):
        skyline([(1, 2.0), (3, math.nan)])


def test_thesis_skyline_of_quantized_students_is_the_published_one():
    """Over the thesis's quantized variants (Table 7.5 +q and +p+q) the skyline is the one the thesis lists."""
    points = [(mb * 1e3, accuracy) for cells in THESIS_TABLE_7_5.values()
              for variant, (accuracy, mb) in zip(VARIANTS, cells) if "quantized" in variant]
    on = sorted((round(size), accuracy) for (size, accuracy), flag in zip(points, skyline(points)) if flag)
    assert on == [(27, 80.16), (48, 81.02), (51, 83.43), (53, 83.89), (291, 84.09), (313, 84.92), (337, 85.69),
                  (395, 86.55), (404, 88.33), (839, 89.08)]


def test_points_from_rows_scale_label_and_skip_rows_without_scores():
    """Aggregated rows become percent points labelled by name and variant, alpha added when it varies."""
    rows = [{"name": "FFN Hash25", "variant": "quantized", "alpha": 0.0, "arch": "ffn",
             "dev_accuracy_mean": 0.8, "dev_accuracy_sd": 0.01, "gzip_bytes_mean": 5e4},
            {"name": "FFN Hash25", "variant": "distilled", "alpha": 0.5, "dev_accuracy": 0.82, "gzip_bytes": 1e5},
            {"name": "no size", "dev_accuracy_mean": 0.9}]
    points = points_from_rows(rows)
    assert [p.label for p in points] == ["FFN Hash25 +q α0", "FFN Hash25 α0.5"]
    assert points[0].score == pytest.approx(80.0) and points[0].sd == pytest.approx(1.0)
    assert points[1].size_bytes == 1e5 and points[0].arch == "ffn"


def test_skyline_plot_is_written_as_png_and_pdf(tmp_path):
    """The skyline plot, with published reference points and baselines, is saved in both formats."""
    points = [Point("BiLSTM BPE25 +q", 4.1e5, 87.0, 0.4, "bilstm", "quantized"),
              Point("FFN Hash25 +q", 4.9e4, 80.5, 0.3, "ffn", "quantized"),
              Point("RNN Char100", 2.4e5, 79.0, None, "rnn", "distilled")]
    paths = plot_skyline(points, tmp_path / "skyline.png", reference=thesis_points(), baselines=PUBLISHED_BASELINES,
                         title="SST-2")
    assert [p.name for p in paths] == ["skyline.png", "skyline.pdf"]
    _written(paths)


def test_figure_formats_are_png_or_pdf(tmp_path):
    """The output's formats are png and/or pdf; anything else is an error naming both."""
    assert [p.name for p in output_paths(tmp_path / "plot.pdf", ["png"])] == ["plot.png"]
    with pytest.raises(ValueError, match=r"some of \['png', 'pdf'\], got \['svg'\]"):
        output_paths(tmp_path / "plot", ["svg"])


def test_parameter_chart_reads_artifacts_and_plots_parts(tmp_path):
    """The parameter chart reads each student's parameter groups and writes both formats."""
    students = []
    for name, groups in [("a", (1000, 300, 20)), ("b", (90000, 0, 2000))]:
        directory = tmp_path / name
        directory.mkdir()
        write_student_meta(directory, StudentMeta(
            task="sst-2", label_names=["negative", "positive"], pair=False, num_labels=2,
            student=student_preset("ffn" if name == "b" else "rnn"), embedding=EmbeddingMeta("hash", 25),
            distill_config={"hash_buckets": 2500},
            parameters=dict(zip(("embedding", "encoder", "classifier"), groups))))
        students.append(str(directory))
    result = analyze_plot(AnalyzePlotConfig(kind="parameters", inputs=students, output=str(tmp_path / "params")))
    assert [p.rsplit("/", 1)[1] for p in result["files"]] == ["params.png", "params.pdf"]


def test_weight_histograms_dequantize_int8_tensors(tmp_path):
    """int8 weights with per-row scales are shown as the values they stand for; scales and biases are not."""
    from safetensors.numpy import save_file

    from featherweight.analysis.weights import plot_weight_histograms, weight_tensors

    save_file({"layer.weight": np.array([[2, 0], [-4, 4]], dtype=np.int8),
               "layer.weight_scale": np.array([0.5, 0.25], dtype=np.float32),
               "layer.bias": np.zeros(2, dtype=np.float32),
               "embedding.weight": np.array([[1.5, 0.0, 0.0, -1.0]], dtype=np.float32)},
              str(tmp_path / "model.safetensors"))
    tensors = weight_tensors(tmp_path)
    assert sorted(tensors) == ["embedding.weight", "layer.weight"]
    assert tensors["layer.weight"]["values"].tolist() == [1.0, 0.0, -1.0, 1.0]
    assert tensors["layer.weight"]["dtype"] == "int8" and tensors["embedding.weight"]["zeros"] == 0.5
    _written(plot_weight_histograms(tmp_path, tmp_path / "weights"))


def test_plot_config_checks_inputs(tmp_path):
    """Plot settings need inputs that exist, one artifact for weights, and a known kind."""
    with pytest.raises(ValueError, match=r"Give what to plot \(inputs\): runs directories"):
        AnalyzePlotConfig(kind="skyline")
    with pytest.raises(FileNotFoundError, match="nope does not exist"):
        AnalyzePlotConfig(kind="parameters", inputs=[str(tmp_path / "nope")])
    with pytest.raises(ValueError, match="The weights plot shows one student; got 2"):
        AnalyzePlotConfig(kind="weights", inputs=[str(tmp_path), str(tmp_path)])


def test_skyline_plot_from_a_results_table_aggregates_seeds(tmp_path):
    """`analyze plot` on a results table plots each setting's mean over seeds and returns the skyline."""
    from featherweight.experiments.results import write_table

    records = [{"command": "compress", "task": "sst-2", "setting_id": s, "config_id": f"{s}{seed}",
                "variant": "distilled", "name": name, "arch": "ffn", "seed": seed, "dev_accuracy": accuracy,
                "gzip_bytes": size}
               for s, name, size, accuracies in [("a", "FFN Hash25", 5e4, (0.80, 0.82)),
                                                 ("b", "FFN BPE100", 9e5, (0.79, 0.81))]
               for seed, accuracy in zip((1, 2), accuracies)]
    table = write_table(records, tmp_path / "results.jsonl")
    result = analyze_plot(AnalyzePlotConfig(inputs=[str(table)], output=str(tmp_path / "sky"), formats=["png"],
                                            reference=True))
    assert result["metric"] == "dev_accuracy" and result["task"] == "sst-2"
    assert [(p["label"], round(p["score"], 3)) for p in result["skyline"]] == [("FFN Hash25", 81.0)]
    _written([tmp_path / "sky.png"])


def test_against_reference_finds_our_best_at_or_under_each_reference_skyline_size():
    """Each reference skyline point is met by our best point no larger than it; dominated reference points are
    left out, and a size we do not reach has no match."""
    theirs = [Point("a", 100, 80.0), Point("b", 200, 85.0), Point("dominated", 300, 84.0), Point("c", 50, 70.0)]
    ours = [Point("x", 90, 81.0), Point("y", 150, 79.0), Point("z", 200, 84.5), Point("big", 1000, 99.0)]
    rows = against_reference(ours, theirs)
    assert [r["reference"].label for r in rows] == ["c", "a", "b"]
    assert [None if r["ours"] is None else r["ours"].label for r in rows] == [None, "x", "z"]
    assert rows[0]["difference"] is None and rows[1]["difference"] == pytest.approx(1.0)
    assert rows[2]["difference"] == pytest.approx(-0.5)
