"""Training and evaluation data: MuSiQue-Ans (hop counts, the report's mixture, a dev split) and
SimpleQA, from local files or hub ids."""

from nanosearch.data.musique import (
    MIXTURE,
    Mixture,
    build_mixture,
    hop_count,
    load_musique,
    split_dev,
)
from nanosearch.data.simpleqa import load_simpleqa

__all__ = [
    "MIXTURE",
    "Mixture",
    "build_mixture",
    "hop_count",
    "load_musique",
    "load_simpleqa",
    "split_dev",
]
