"""Stage 1 and 3: fine-tune a teacher (any Hugging Face model, MPNet, fairseq RoBERTa) and cache its soft targets."""
