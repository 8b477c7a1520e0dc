"""TinyBERT-style data augmentation (Jiao et al. 2020), batched, for the teacher to label.

Public API: `AugmentConfig` + `augment(config)` (the `featherweight augment` command) and
`label_distributions` (original vs teacher-labelled augmented data). The building blocks
(`find_candidates`, `PerWordCandidates`, `augment_rows`, `load_glove`, `MaskedLM`) are exported
for the benchmark and tests. See augment/README.md.
"""
from featherweight.augment.candidates import find_candidates
from featherweight.augment.glove import GloveNeighbours, GloveTable, load_glove
from featherweight.augment.labels import label_distributions
from featherweight.augment.mlm import MaskedLM
from featherweight.augment.per_word import PerWordCandidates
from featherweight.augment.run import AugmentConfig, augment
from featherweight.augment.sample import Slot, augment_rows

__all__ = ["AugmentConfig", "GloveNeighbours", "GloveTable", "MaskedLM", "PerWordCandidates", "Slot", "augment",
           "augment_rows", "find_candidates", "label_distributions", "load_glove"]
