"""Published reference numbers: the thesis "Featherweight NLP" (2021) SST-2 tables, for comparison rows and plots."""
from __future__ import annotations

from featherweight import workspace
from featherweight.embeddings.spec import HASH_BUCKETS
from featherweight.students.config import STUDENT_PRESETS

THESIS_TEACHER = {"name": "RoBERTa-large", "params": 3.6e8, "mb": 1426, "sst2_dev_accuracy": 96.6}

# Table 7.1 (SST-2 dev accuracy %, mean of 4 seeds; "+ b" = with augmented data), keyed by (arch, embedding, dim, K).
THESIS_TABLE_7_1 = {
    ("bilstm", "hash", 25, 5000): {"params": 3.0e5, "mb": 1.21, "no_distill": 78.5, "no_distill_b": 84.7, "alpha_0.5_b": 85.9, "alpha_0_b": 85.9},
    ("bilstm", "hash", 100, 5000): {"params": 4.3e5, "mb": 1.72, "no_distill": 77.4, "no_distill_b": 85.2, "alpha_0.5_b": 86.5, "alpha_0_b": 87.0},
    ("bilstm", "bpe", 25, None): {"params": 4.0e5, "mb": 1.60, "no_distill": 82.9, "no_distill_b": 87.0, "alpha_0.5_b": 89.1, "alpha_0_b": 88.6},
    ("bilstm", "bpe", 100, None): {"params": 8.6e5, "mb": 3.46, "no_distill": 82.9, "no_distill_b": 88.6, "alpha_0.5_b": 89.4, "alpha_0_b": 88.7},
    ("bilstm", "bpe", 300, None): {"params": 2.1e6, "mb": 8.42, "no_distill": 83.7, "no_distill_b": 88.2, "alpha_0.5_b": 88.8, "alpha_0_b": 89.2},
    ("bilstm", "char", 100, None): {"params": 3.7e5, "mb": 1.47, "no_distill": 72.9, "no_distill_b": 87.1, "alpha_0.5_b": 85.1, "alpha_0_b": 84.9},
    ("rnn", "hash", 100, 5000): {"params": 1.3e5, "mb": 0.51, "no_distill": 72.7, "no_distill_b": 82.4, "alpha_0.5_b": 82.9, "alpha_0_b": 83.5},
    ("rnn", "bpe", 100, None): {"params": 5.6e5, "mb": 2.25, "no_distill": 79.4, "no_distill_b": 85.3, "alpha_0.5_b": 86.1, "alpha_0_b": 86.8},
    ("rnn", "char", 100, None): {"params": 6.4e4, "mb": 0.26, "no_distill": 79.1, "no_distill_b": 83.3, "alpha_0.5_b": 84.1, "alpha_0_b": 84.6},
    ("ffn", "hash", 25, 5000): {"params": 3.0e4, "mb": 0.12, "no_distill": 75.0, "no_distill_b": 80.5, "alpha_0.5_b": 80.6, "alpha_0_b": 81.2},
    ("ffn", "bpe", 100, None): {"params": 5.1e5, "mb": 2.04, "no_distill": 80.7, "no_distill_b": 82.1, "alpha_0.5_b": 81.8, "alpha_0_b": 80.3},
    ("ffn", "hash", 25, 2500): {"params": 1.7e4, "mb": 0.07, "no_distill": 74.8, "no_distill_b": 79.6, "alpha_0.5_b": 79.9, "alpha_0_b": 80.2},
}

# Table 7.5 (SST-2 dev accuracy % / zipped MB): distilled, +pruned, +quantized, +pruned+quantized.
THESIS_TABLE_7_5 = {
    ("bilstm", "hash", 100, 5000): [(86.96, 1.587), (85.01, 1.121), (86.55, 0.395), (84.92, 0.313)],
    ("bilstm", "bpe", 100, None): [(89.36, 3.207), (87.59, 2.186), (89.08, 0.839), (87.50, 0.725)],
    ("bilstm", "bpe", 25, None): [(88.65, 1.479), (85.67, 1.009), (88.33, 0.404), (85.69, 0.337)],
    ("bilstm", "char", 100, None): [(85.06, 1.360), (84.23, 1.103), (84.89, 0.329), (84.09, 0.291)],
    ("rnn", "hash", 100, 5000): [(83.46, 0.464), (83.08, 0.450), (83.40, 0.130), (83.03, 0.128)],
    ("rnn", "bpe", 100, None): [(86.75, 2.094), (85.21, 1.496), (86.55, 0.548), (85.21, 0.497)],
    ("rnn", "char", 100, None): [(84.58, 0.236), (83.26, 0.219), (83.89, 0.053), (83.43, 0.051)],
    ("ffn", "hash", 25, 5000): [(81.22, 0.113), (80.36, 0.113), (81.02, 0.048), (80.42, 0.048)],
    ("ffn", "bpe", 100, None): [(82.05, 1.898), (78.61, 1.335), (81.94, 0.531), (78.70, 0.494)],
    ("ffn", "hash", 25, 2500): [(80.16, 0.063), (80.22, 0.062), (79.99, 0.027), (80.16, 0.027)],
}
VARIANTS = workspace.VARIANTS  # the columns of Table 7.5, in order


def student_label(arch: str, embedding: str, dim: int, hash_buckets: int | None = None,
                  pooling: str | None = None) -> str:
    """Thesis-style name, e.g. "BiLSTM BPE25", "FFN Hash25 (K=2500)"; a pooling other than the arch's thesis
    preset (last state; the FFN's mean) is named, e.g. "RNN Char100 (max pooling)"."""
    arch_name = {"bilstm": "BiLSTM", "rnn": "RNN", "ffn": "FFN"}[arch]
    embedding_name = {"hash": "Hash", "char": "Char", "bpe": "BPE"}[embedding]
    notes = [f"K={hash_buckets}"] if embedding == "hash" and hash_buckets not in (None, HASH_BUCKETS) else []
    if pooling not in (None, STUDENT_PRESETS[arch].pooling):
        notes.append(f"{pooling} pooling")
    return f"{arch_name} {embedding_name}{dim}" + (f" ({', '.join(notes)})" if notes else "")


# Published SST-2 baselines (percent), for reference lines on plots. Sizes are not comparable gzip figures
# (or not published), so they carry none and plot as horizontal lines; the split is part of the name.
PUBLISHED_BASELINES = [
    {"name": "RoBERTa-large teacher, dev, 1,426 MB (published)", "score": 96.6, "size_bytes": None,
     "source": "thesis"},
    {"name": "TinyBERT4, test (published)", "score": 92.6, "size_bytes": None,
     "source": "thesis, citing Jiao et al. 2020"},
    {"name": "BiLSTM from BERT-large, test (published)", "score": 90.7, "size_bytes": None,
     "source": "thesis, citing Tang et al. 2019"},
    {"name": "BERT-Tiny, test (published)", "score": 83.2, "size_bytes": None, "source": "thesis"},
]
