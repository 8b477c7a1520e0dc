"""One definition per cross-cutting value: the workspace layout, the variants, the length limits, the hash buckets."""
import inspect
from pathlib import Path

from featherweight import workspace
from featherweight.augment.compose import ComposeConfig
from featherweight.augment.mlm import MLM_MAX_LENGTH, MaskedLM
from featherweight.augment.per_word import PerWordCandidates
from featherweight.augment.run import AugmentConfig
from featherweight.cli import build_parser
from featherweight.cli_args import dataclass_from_args, field_comments
from featherweight.compression.distill import DistillConfig, fit_student_tokenizer
from featherweight.embeddings.spec import HASH_BUCKETS, MAX_LENGTH_DEFAULTS, TokenizerSpec
from featherweight.experiments.pipeline import CompressConfig
from featherweight.teacher.finetune import FinetuneConfig
from featherweight.teacher.model import TEACHER_MAX_LENGTH, batched_logits, predict_logits
from featherweight.teacher.onnx import onnx_predict_logits
from featherweight.teacher.soft_targets import SoftTargetConfig


def _default(function, name: str):
    return inspect.signature(function).parameters[name].default


def test_default_paths_keep_the_documented_layout():
    """Every default path built through workspace is where the README and earlier runs put it."""
    distill = DistillConfig()
    assert distill.work_dir == "artifacts"
    assert distill.teacher == str(Path("artifacts/teacher-sst-2/best"))
    assert distill.output_dir == str(Path("artifacts/students") / distill.name)
    assert FinetuneConfig().output_dir == str(Path("artifacts/teacher-sst-2"))
    assert FinetuneConfig().best_dir == Path("artifacts/teacher-sst-2/best")
    assert AugmentConfig().output == str(Path("artifacts/augment-sst-2/augmented.tsv"))
    assert ComposeConfig().output == str(Path("artifacts/compose-sst-2/composed.tsv"))
    assert workspace.soft_targets_file("t/best", "sst-2", "d/train.tsv") == Path("t/soft-targets/sst-2-train.npz")
    assert workspace.soft_targets_file("t/best", "sst-2", "d/train.tsv", "onnx") == Path(
        "t/soft-targets/sst-2-train.onnx.npz")
    assert workspace.teacher_onnx_root("t/best") == Path("t/teacher-onnx")
    assert workspace.cache_dir("tokens", "w") == Path("w/cache/tokens")


def test_variant_folders_lie_beside_the_distilled_student():
    """Variants are named <student>-<variant> beside it (or under another root); the distilled one is itself."""
    assert workspace.VARIANTS == ("distilled", "pruned", "quantized", "pruned-quantized")
    assert [workspace.variant_dir("s/x", variant) for variant in workspace.VARIANTS] == [
        Path("s/x"), Path("s/x-pruned"), Path("s/x-quantized"), Path("s/x-pruned-quantized")]
    assert workspace.variant_dir("s/x", "pruned", root="r") == Path("r/x-pruned")


def test_each_length_limit_has_one_default():
    """Teacher, masked-LM and student length limits each default to their one constant everywhere they appear."""
    assert FinetuneConfig().max_length == TEACHER_MAX_LENGTH
    for function in (predict_logits, batched_logits, onnx_predict_logits):
        assert _default(function, "max_length") == TEACHER_MAX_LENGTH, function.__name__
    assert AugmentConfig().max_length == MLM_MAX_LENGTH
    assert _default(MaskedLM, "max_length") == _default(PerWordCandidates, "max_length") == MLM_MAX_LENGTH
    for kind, length in MAX_LENGTH_DEFAULTS.items():
        extra = {"model_file": "m.model", "vocab_size": 10, "source": "bpemb"} if kind == "bpe" else {}
        assert TokenizerSpec(type=kind, **extra).max_length == length


def test_help_texts_name_the_defaults_they_state():
    """The --max-length helps that quote a default quote the constant's current value."""
    student_help = field_comments(DistillConfig)["max_length"]
    assert str(MAX_LENGTH_DEFAULTS["hash"]) in student_help and str(MAX_LENGTH_DEFAULTS["char"]) in student_help
    assert str(TEACHER_MAX_LENGTH) in field_comments(SoftTargetConfig)["max_length"]


def test_hash_buckets_default_is_the_tokenizer_spec_default():
    """--hash-buckets and the hash tokenizer spec default to the same K."""
    assert DistillConfig().hash_buckets == TokenizerSpec(type="hash").num_buckets == HASH_BUCKETS


def test_compress_max_length_reaches_the_student_tokenizer():
    """`compress --max-length N` is the student tokenizer's max_length; without it the embedding's default holds."""
    def tokenizer_for(*options):
        argv = ["compress", "--embedding-type", "hash", *options]
        config = dataclass_from_args(CompressConfig, build_parser(argv).parse_args(argv))
        return fit_student_tokenizer(config, ["a tiny corpus"])

    assert tokenizer_for("--max-length", "64").spec.max_length == 64
    assert tokenizer_for().spec.max_length == MAX_LENGTH_DEFAULTS["hash"]
    assert len(tokenizer_for("--max-length", "3").encode("one two three four five")) == 3
