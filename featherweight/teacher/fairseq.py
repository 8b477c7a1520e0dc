"""fairseq RoBERTa classification checkpoints as teachers, converted once into a Hugging Face directory.

`--teacher fairseq:PATH` names a directory holding a fine-tuned fairseq RoBERTa checkpoint `model.pt`, the
`dict.txt` it was trained with, the GPT-2 BPE files `encoder.json` and `vocab.bpe`, and `label/dict.txt`
(the label dictionary `fairseq-preprocess` wrote; optional for an MNLI head, whose order fairseq documents
as contradiction/neutral/entailment). PATH may also be the checkpoint file itself, beside those files.

The checkpoint is read with fairseq (`pip install "featherweight[fairseq]"`), mapped tensor by tensor onto a
RobertaForSequenceClassification (every fairseq tensor used once, shapes equal, only the masked-LM head and
version buffers left out), its tokenizer rebuilt so Hugging Face token ids equal fairseq dictionary indices,
and both models compared on a few probe texts before the directory is kept. The directory lives in the
cache (FEATHERWEIGHT_CACHE, default ~/.cache/featherweight) under fairseq/, keyed by the content hash of the
input files: later calls reuse it without importing fairseq; a changed checkpoint converts again.

Label names: config.json id2label holds names the tasks use, so the teacher module's checked label order
applies. Labels that are already task label names (MNLI) are kept; labels that are a GLUE task's label
values ("0"/"1") take that task's names when the head name or the fine-tuning data path names exactly one
such task (e.g. SST-2-bin: negative/positive, QQP-bin: not_duplicate/duplicate); other labels are kept as
written (edit label/dict.txt to rename them, in the same order).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import pickle
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from featherweight.data.tasks import TASKS
from featherweight.fingerprint import file_sha256
from featherweight.teacher.assets import COMPLETE, TEACHER_INFO, TEACHER_MAX_LENGTH, cache_root

logger = logging.getLogger(__name__)

FAIRSEQ_PREFIX = "fairseq:"
EXTRA_HINT = 'pip install "featherweight[fairseq]"'
CONVERTER_VERSION = 1  # part of the cache key: a new version converts again
CHECKPOINT = "model.pt"
INPUT_FILES = {"dictionary": "dict.txt", "encoder_json": "encoder.json", "vocab_bpe": "vocab.bpe"}
LABEL_DICT = "label/dict.txt"
MNLI_HEAD_LABELS = ("contradiction", "neutral", "entailment")  # fairseq's roberta.large.mnli head order
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq Dictionary's first four symbols
MASK = "<mask>"  # appended by fairseq's masked_lm and sentence_prediction tasks
ACTIVATIONS = {"gelu": "gelu", "gelu_accurate": "gelu_new", "gelu_fast": "gelu_new", "relu": "relu",
               "tanh": "tanh", "linear": "linear", "swish": "silu"}  # fairseq name -> transformers name
PROBES = [("Hello world!",), ("The film was good, wasn't it?",), ("naïve café: 3.14 €",),
          ("A man plays a guitar.", "Someone makes music.")]
TOLERANCE = 1e-4  # largest |fairseq - converted| logit difference accepted on the probes

_LAYER = r"encoder\.sentence_encoder\.layers\.(\d+)\."
_HF_LAYER = r"roberta.encoder.layer.\1."
RENAMES = [  # fairseq state-dict name -> RobertaForSequenceClassification name; {head} is the chosen head
    (r"encoder\.sentence_encoder\.embed_tokens\.weight", "roberta.embeddings.word_embeddings.weight"),
    (r"encoder\.sentence_encoder\.embed_positions\.weight", "roberta.embeddings.position_embeddings.weight"),
    (r"encoder\.sentence_encoder\.layernorm_embedding\.(weight|bias)", r"roberta.embeddings.LayerNorm.\1"),
    (_LAYER + r"self_attn\.q_proj\.(weight|bias)", _HF_LAYER + r"attention.self.query.\2"),
    (_LAYER + r"self_attn\.k_proj\.(weight|bias)", _HF_LAYER + r"attention.self.key.\2"),
    (_LAYER + r"self_attn\.v_proj\.(weight|bias)", _HF_LAYER + r"attention.self.value.\2"),
    (_LAYER + r"self_attn\.out_proj\.(weight|bias)", _HF_LAYER + r"attention.output.dense.\2"),
    (_LAYER + r"self_attn_layer_norm\.(weight|bias)", _HF_LAYER + r"attention.output.LayerNorm.\2"),
    (_LAYER + r"fc1\.(weight|bias)", _HF_LAYER + r"intermediate.dense.\2"),
    (_LAYER + r"fc2\.(weight|bias)", _HF_LAYER + r"output.dense.\2"),
    (_LAYER + r"final_layer_norm\.(weight|bias)", _HF_LAYER + r"output.LayerNorm.\2"),
    (r"classification_heads\.{head}\.(dense|out_proj)\.(weight|bias)", r"classifier.\1.\2"),
]
DROPPED = [r"encoder\.lm_head\..+",  # the masked-LM head: a classifier has none
           r"encoder\.sentence_encoder\.version"]  # fairseq's state-dict version buffer
ZEROED = ["roberta.embeddings.token_type_embeddings.weight"]  # RoBERTa has one all-zero segment embedding


def is_fairseq_teacher(name: str) -> bool:
    """True for a `--teacher fairseq:PATH` value."""
    return str(name).startswith(FAIRSEQ_PREFIX)


def fairseq_teacher_directory(path: str) -> Path:
    """The Hugging Face directory converted from the fairseq checkpoint at `path` (converted on first use).

    `path` may carry the "fairseq:" prefix. A cached conversion of the same input files is reused.
    """
    if is_fairseq_teacher(path):
        path = path[len(FAIRSEQ_PREFIX):]
    sources = FairseqSources.find(path)
    target = cache_root() / "fairseq" / f"{sources.checkpoint.parent.name or 'model'}-{sources.digest()[:16]}"
    if (target / COMPLETE).is_file():
        return target
    require_fairseq()
    return convert(sources, target, source=f"{FAIRSEQ_PREFIX}{path}")


def require_fairseq() -> None:
    """Import fairseq, or raise a one-line ImportError saying what to install."""
    try:
        import fairseq  # noqa: F401
    except ImportError as error:
        raise ImportError(f"--teacher {FAIRSEQ_PREFIX}PATH needs fairseq: {EXTRA_HINT}") from error


@dataclass(frozen=True)
class FairseqSources:
    """The files one fairseq teacher is converted from."""

    checkpoint: Path
    dictionary: Path
    encoder_json: Path
    vocab_bpe: Path
    label_dict: Path | None

    @classmethod
    def find(cls, path: str) -> "FairseqSources":
        """The files of the checkpoint `path` (a directory holding model.pt, or the .pt file itself)."""
        given = Path(path).expanduser().resolve()
        checkpoint = given / CHECKPOINT if given.is_dir() else given
        if not checkpoint.is_file():
            raise FileNotFoundError(f"--teacher {FAIRSEQ_PREFIX}{path}: no fairseq checkpoint {checkpoint}; pass a "
                                    f"directory holding {CHECKPOINT} and {', '.join(INPUT_FILES.values())}, "
                                    "or the .pt file.")
        folder = checkpoint.parent
        missing = [name for name in INPUT_FILES.values() if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"--teacher {FAIRSEQ_PREFIX}{path}: {folder} lacks {', '.join(missing)} (the "
                                    "dictionary the model was trained with and the GPT-2 BPE files, from "
                                    "https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/).")
        label_dict = folder / LABEL_DICT
        return cls(checkpoint, *(folder / name for name in INPUT_FILES.values()),
                   label_dict if label_dict.is_file() else None)

    def digest(self) -> str:
        """SHA-256 over the converter version and every input file's content."""
        digest = hashlib.sha256(f"featherweight-fairseq-{CONVERTER_VERSION}".encode())
        for role, file in vars(self).items():
            digest.update(f"\0{role}:{cached_sha256(file) if file else '-'}".encode())
        return digest.hexdigest()


def cached_sha256(path: Path) -> str:
    """file_sha256, computed once per process for a file of unchanged inode, size and times."""
    stat = Path(path).stat()
    return _sha256_of(str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, *identity: int) -> str:
    return file_sha256(path)


def convert(sources: FairseqSources, target: Path, source: str) -> Path:
    """Convert the checkpoint into `target` (atomically), checked against fairseq on the probe texts.

    `source` (the --teacher value) is recorded in its featherweight_teacher.json.
    """
    state = load_checkpoint(sources.checkpoint)
    data = str(_task_field(state, "data") or "")  # the fine-tuning data path, e.g. .../SST-2-bin
    dictionary = load_dictionary(sources.dictionary)
    model = fairseq_model(state, dictionary, sources.checkpoint)
    del state  # a training checkpoint's optimizer state can be twice the model's size
    head = single_head(model, sources.checkpoint)
    hints = [head, data]
    raw_labels = fairseq_labels(sources, model.classification_heads[head].out_proj.out_features, hints, data)
    names, task = label_names(raw_labels, hints)
    hf_model = hf_classifier(model, head, names, dictionary)
    positions = hf_model.config.max_position_embeddings - dictionary.pad() - 1  # fairseq's max_positions
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".converting-") as tmp:
        staging = Path(tmp) / "teacher"
        tokenizer = save_tokenizer(staging, dictionary, sources, positions)
        check_parity(model, head, hf_model, tokenizer, dictionary, sources)
        hf_model.save_pretrained(staging)
        info = {"source": source, "loaded_via": "converted",
                "checkpoint": str(sources.checkpoint), "checkpoint_sha256": cached_sha256(sources.checkpoint),
                "inputs_sha256": sources.digest(), "classification_head": head, "fairseq_labels": raw_labels,
                "label_names": names, **({"task": task} if task else {}),
                "max_length": min(TEACHER_MAX_LENGTH, positions), "converter_version": CONVERTER_VERSION}
        (staging / TEACHER_INFO).write_text(json.dumps(info, indent=2))
        (staging / COMPLETE).write_text(f"converted from {sources.checkpoint}\n")
        _publish(staging, target)
    logger.info("Converted fairseq checkpoint %s into %s.", sources.checkpoint, target)
    return target


def _publish(staging: Path, target: Path) -> None:
    """Move `staging` to `target`, replacing a partial one; a complete one written meanwhile is kept."""
    if (target / COMPLETE).is_file():
        return
    shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:
        if not (target / COMPLETE).is_file():
            raise


def load_checkpoint(path: Path) -> dict:
    """fairseq's checkpoint dict (args upgraded to cfg), unpickled with torch's weights-only loader.

    Only argparse.Namespace (fairseq's model arguments) and numpy scalars are allowed beyond tensors and
    plain containers; a checkpoint holding other objects is refused with their name.
    """
    import torch
    from fairseq import checkpoint_utils

    with torch.serialization.safe_globals(_allowed_globals()):
        try:
            return checkpoint_utils.load_checkpoint_to_cpu(str(path))
        except pickle.UnpicklingError as error:
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
            what = found.group(1) if found else str(error).splitlines()[0]
            raise ValueError(f"{path} holds an object torch does not load safely ({what}); save the "
                             "checkpoint's 'cfg' (or 'args') and 'model' entries alone with torch.save and pass "
                             "that file.") from None


def _allowed_globals() -> list:
    """argparse.Namespace and numpy scalar reconstruction, under numpy 1 and 2 names."""
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    dtypes = [type(np.dtype(kind)) for kind in ("float64", "float32", "int64", "int32", "bool")]
    return [argparse.Namespace, multiarray.scalar, (multiarray.scalar, "numpy.core.multiarray.scalar"),
            np.dtype, *dtypes]


def load_dictionary(path: Path):
    """fairseq's Dictionary of `path` with <mask> appended, as RoBERTa's tasks load it."""
    from fairseq.data import Dictionary

    dictionary = Dictionary.load(str(path))
    dictionary.add_symbol(MASK)
    if tuple(dictionary.symbols[:len(SPECIALS)]) != SPECIALS or dictionary.symbols[-1] != MASK:
        raise ValueError(f"{path} is not a RoBERTa dictionary: expected {', '.join(SPECIALS)} first and "
                         f"{MASK} last, found {dictionary.symbols[:len(SPECIALS)]} ... {dictionary.symbols[-1]}.")
    return dictionary


def _task_field(state: dict, name: str):
    """A field of the checkpoint's task config (None when absent)."""
    task = (state.get("cfg") or {}).get("task") or {}
    return task.get(name) if hasattr(task, "get") else getattr(task, name, None)


def fairseq_model(state: dict, dictionary, checkpoint: Path):
    """The fairseq RobertaModel of `state`, with every classification head it holds, weights loaded strictly."""
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY
    from fairseq.models.roberta import RobertaModel

    args = state["cfg"]["model"]
    arch = getattr(args, "arch", None) or getattr(args, "_name", None)
    if not (arch in ARCH_MODEL_REGISTRY and issubclass(ARCH_MODEL_REGISTRY[arch], RobertaModel)):
        raise ValueError(f"{checkpoint} is a fairseq {arch} model; Featherweight converts RoBERTa checkpoints.")
    if isinstance(args, argparse.Namespace):
        ARCH_CONFIG_REGISTRY[arch](args)  # fill arguments older checkpoints lack, as fairseq does
    _check_vocabulary(state["model"], dictionary, checkpoint)
    task = SimpleNamespace(source_dictionary=dictionary, max_positions=lambda: 512)
    model = ARCH_MODEL_REGISTRY[arch].build_model(args, task)
    for name, (classes, inner) in _heads_in(state["model"]).items():
        model.register_classification_head(name, num_classes=classes, inner_dim=inner)
    try:
        model.load_state_dict(state["model"], strict=True, model_cfg=args)
    except RuntimeError as error:
        raise ValueError(f"{checkpoint} does not load into the RoBERTa model its config describes: "
                         f"{str(error).splitlines()[0]}") from None
    return model.eval()


def _check_vocabulary(weights: dict, dictionary, checkpoint: Path) -> None:
    """Refuse a dict.txt whose size differs from the checkpoint's embedding table."""
    rows = [tensor.shape[0] for name, tensor in weights.items()
            if name.endswith("sentence_encoder.embed_tokens.weight")]
    if rows and rows[0] != len(dictionary):
        raise ValueError(f"dict.txt gives {len(dictionary)} symbols (with {MASK}) but {checkpoint} embeds {rows[0]}: "
                         "pass the dict.txt the model was trained with.")


def _heads_in(weights: dict) -> dict[str, tuple[int, int]]:
    """{head name: (classes, inner dimension)} of the classification heads in a fairseq state dict."""
    heads = {}
    for name, tensor in weights.items():
        found = re.fullmatch(r"classification_heads\.(.+)\.out_proj\.weight", name)
        if found:
            inner = weights[f"classification_heads.{found.group(1)}.dense.weight"].shape[0]
            heads[found.group(1)] = (tensor.shape[0], inner)
    return heads


def single_head(model, checkpoint: Path) -> str:
    """The name of the model's one classification head."""
    heads = sorted(model.classification_heads)
    if len(heads) != 1:
        what = "no classification head (fine-tune it on a task first)" if not heads else f"several heads {heads}"
        raise ValueError(f"{checkpoint} has {what}; Featherweight converts a checkpoint with one classification head.")
    return heads[0]


def fairseq_labels(sources: FairseqSources, classes: int, hints: list[str], data: str) -> list[str]:
    """The head's labels in output order: label/dict.txt's symbols, else the documented MNLI order."""
    if sources.label_dict is not None:
        from fairseq.data import Dictionary

        labels = Dictionary.load(str(sources.label_dict)).symbols[len(SPECIALS):]
        padding = labels[classes:]  # fairseq-preprocess pads dictionaries to a multiple of 8 with madeupwordNNNN
        if len(labels) < classes or not all(re.fullmatch(r"madeupword\d+", symbol) for symbol in padding):
            raise ValueError(f"{sources.label_dict} names {len(labels)} labels {labels}; the head has {classes} "
                             "outputs.")
        return list(labels[:classes])
    if classes == len(MNLI_HEAD_LABELS) and any("mnli" in _squash(hint) for hint in hints):
        logger.info("No %s beside %s: using fairseq's MNLI head order %s.", LABEL_DICT, sources.checkpoint,
                    list(MNLI_HEAD_LABELS))
        return list(MNLI_HEAD_LABELS)
    where = f" (fine-tuned on {data}: copy {Path(data) / LABEL_DICT})" if data and data != "." else ""
    raise FileNotFoundError(f"{sources.checkpoint.parent} has no {LABEL_DICT}, which names the head's {classes} "
                            f"outputs in order{where}.")


def label_names(labels: list[str], hints: list[str]) -> tuple[list[str], str | None]:
    """Names for the head's labels that the tasks use, and the GLUE task they identify (or None).

    Labels that are one GLUE task's label names stay; labels that are GLUE label values ("0"/"1") take the
    names of the one such task the hints (head name, data path) name; others stay as written.
    """
    lowered = sorted(label.lower() for label in labels)
    named = [spec for spec in TASKS.values() if sorted(n.lower() for n in spec.label_names) == lowered]
    if len(named) == 1:
        return list(labels), named[0].name
    valued = [spec for spec in TASKS.values() if sorted(spec.label_values) == sorted(labels)]
    hinted = [spec for spec in valued if any(_squash(spec.name) in _squash(hint) for hint in hints)]
    if len(hinted) == 1:
        spec = hinted[0]
        return [spec.label_names[spec.label_values.index(label)] for label in labels], spec.name
    if valued:
        logger.warning("The fairseq head's labels %s are label values of %s; nothing names which task, so they are "
                       "kept as written (write the names into %s, in the same order, to name them).",
                       labels, [spec.name for spec in valued], LABEL_DICT)
    return list(labels), None


def _squash(text: str) -> str:
    """Lower case without punctuation: "SST-2-bin" -> "sst2bin"."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def hf_classifier(model, head: str, names: list[str], dictionary):
    """A RobertaForSequenceClassification holding the fairseq model's weights for `head`."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    encoder = model.encoder.sentence_encoder
    _check_supported(model)
    layer = encoder.layers[0]
    config = RobertaConfig(
        vocab_size=len(dictionary), hidden_size=encoder.embed_tokens.embedding_dim,
        num_hidden_layers=len(encoder.layers), num_attention_heads=layer.self_attn.num_heads,
        intermediate_size=layer.fc1.out_features, hidden_act=ACTIVATIONS[model.args.activation_fn],
        max_position_embeddings=encoder.embed_positions.weight.shape[0], type_vocab_size=1,
        layer_norm_eps=encoder.layernorm_embedding.eps, pad_token_id=dictionary.pad(),
        bos_token_id=dictionary.bos(), eos_token_id=dictionary.eos(),
        id2label=dict(enumerate(names)), label2id={name: i for i, name in enumerate(names)})
    hf_model = RobertaForSequenceClassification(config)
    hf_model.load_state_dict(mapped_state_dict(model.state_dict(), hf_model, head), strict=True)
    return hf_model.eval()


def _check_supported(model) -> None:
    """Refuse fairseq variants RobertaForSequenceClassification cannot express, naming them."""
    encoder = model.encoder.sentence_encoder
    args = model.args
    problems = {
        "pre-layer-norm blocks (--encoder-normalize-before)": encoder.layer_norm is not None
        or any(layer.normalize_before for layer in encoder.layers),
        "no embedding layer norm": encoder.layernorm_embedding is None,
        "scaled token embeddings": encoder.embed_scale not in (None, 1.0),
        "non-learned position embeddings": not hasattr(getattr(encoder, "embed_positions", None), "weight"),
        f"activation {args.activation_fn}": args.activation_fn not in ACTIVATIONS,
        f"pooler activation {args.pooler_activation_fn}": args.pooler_activation_fn != "tanh",
        "padding index other than 1": encoder.padding_idx != 1,
    }
    found = [problem for problem, present in problems.items() if present]
    if found:
        raise ValueError(f"This fairseq RoBERTa has {', '.join(found)}, which Hugging Face's RoBERTa cannot hold.")


def mapped_state_dict(fairseq_weights: dict, hf_model, head: str) -> dict:
    """The Hugging Face state dict filled from `fairseq_weights`, checked tensor by tensor.

    Every fairseq tensor maps onto exactly one Hugging Face tensor of the same shape (the masked-LM head and
    the version buffer excepted), and every Hugging Face parameter is filled (the segment embedding with zeros).
    """
    import torch

    target = dict(hf_model.state_dict())
    rules = [(re.compile(pattern.format(head=re.escape(head))), name) for pattern, name in RENAMES]
    filled, unmapped = {}, []
    for name, tensor in fairseq_weights.items():
        hf_name = _hf_name(name, rules)
        if hf_name is None:
            unmapped.append(name)
        elif hf_name == "":
            continue
        elif hf_name in filled:
            raise ValueError(f"fairseq tensors {filled[hf_name]} and {name} both map onto {hf_name}.")
        elif hf_name not in target or target[hf_name].shape != tensor.shape:
            shape = tuple(target[hf_name].shape) if hf_name in target else "absent"
            raise ValueError(f"fairseq tensor {name} {tuple(tensor.shape)} has no match: {hf_name} is {shape}.")
        else:
            filled[hf_name] = name
            target[hf_name] = tensor.detach().to(torch.float32).clone()
    if unmapped:
        more = f" and {len(unmapped) - 5} more" if len(unmapped) > 5 else ""
        raise ValueError(f"fairseq tensors with no Hugging Face counterpart: {unmapped[:5]}{more}.")
    for name in ZEROED:
        target[name] = torch.zeros_like(target[name])
    empty = [name for name, _ in hf_model.named_parameters() if name not in filled and name not in ZEROED]
    if empty:
        raise ValueError(f"Hugging Face parameters left unfilled by the fairseq checkpoint: {empty[:5]}")
    return target


def _hf_name(name: str, rules) -> str | None:
    """The Hugging Face name of a fairseq tensor; "" for one deliberately dropped, None for an unknown one."""
    for pattern, replacement in rules:
        if pattern.fullmatch(name):
            return pattern.sub(replacement, name)
    return "" if any(re.fullmatch(pattern, name) for pattern in DROPPED) else None


def hf_vocabulary(dictionary, encoder: dict) -> dict[str, int]:
    """{byte-level BPE token: fairseq index}: dict.txt names GPT-2 ids, encoder.json gives their tokens."""
    tokens = {gpt2_id: token for token, gpt2_id in encoder.items()}
    vocabulary = {}
    for index, symbol in enumerate(dictionary.symbols):
        token = tokens[int(symbol)] if symbol.isdigit() and int(symbol) in tokens else symbol
        if token in vocabulary:
            raise ValueError(f"dict.txt lists the BPE token {token!r} twice (indices {vocabulary[token]} and {index}).")
        vocabulary[token] = index
    missing = [token for token in encoder if token not in vocabulary]
    if missing:
        raise ValueError(f"dict.txt lacks {len(missing)} of encoder.json's GPT-2 tokens (e.g. {missing[:3]}); "
                         "Featherweight converts models whose dictionary holds them all, as RoBERTa's does.")
    return vocabulary


def fairseq_merges(vocab_bpe: Path) -> list[str]:
    """The merge lines fairseq's GPT-2 encoder reads: every line after the first, but the last."""
    return vocab_bpe.read_text(encoding="utf-8").split("\n")[1:-1]


def save_tokenizer(directory: Path, dictionary, sources: FairseqSources, max_length: int):
    """Write a RoBERTa tokenizer whose ids are fairseq's dictionary indices into `directory`; return it."""
    from transformers import RobertaTokenizer

    encoder = json.loads(sources.encoder_json.read_text(encoding="utf-8"))
    directory.mkdir(parents=True)
    (directory / "vocab.json").write_text(json.dumps(hf_vocabulary(dictionary, encoder), ensure_ascii=False),
                                          encoding="utf-8")
    merges = fairseq_merges(sources.vocab_bpe)
    (directory / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{line}\n" for line in merges), encoding="utf-8")
    tokenizer = RobertaTokenizer.from_pretrained(str(directory), model_max_length=max_length)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def fairseq_token_ids(bpe, dictionary, texts: tuple[str, ...]) -> list[int]:
    """The ids fairseq's RoBERTa hub interface gives one or two texts: <s> a </s> [</s> b </s>]."""
    pieces = [" ".join(map(str, bpe.encode(text))) for text in texts]
    line = "<s> " + " </s> </s> ".join(pieces) + " </s>"
    return dictionary.encode_line(line, append_eos=False, add_if_not_exist=False).long().tolist()


def check_parity(model, head: str, hf_model, tokenizer, dictionary, sources: FairseqSources) -> None:
    """Refuse the conversion unless token ids are equal and logits agree within TOLERANCE on the probes."""
    import torch
    from fairseq.data.encoders.gpt2_bpe_utils import get_encoder

    bpe = get_encoder(str(sources.encoder_json), str(sources.vocab_bpe))
    with torch.no_grad():
        for texts in PROBES:
            ids = fairseq_token_ids(bpe, dictionary, texts)
            hf_ids = tokenizer(*texts)["input_ids"]
            if hf_ids != ids:
                raise ValueError(f"The converted tokenizer gives {hf_ids} for {texts}; fairseq gives {ids}.")
            expected = model(torch.tensor([ids]), classification_head_name=head)[0]
            got = hf_model(input_ids=torch.tensor([ids])).logits
            gap = float((expected - got).abs().max())
            if gap > TOLERANCE:
                raise ValueError(f"The converted model's logits differ from fairseq's by {gap:.2e} on {texts}.")
