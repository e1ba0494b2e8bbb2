"""The local search engine that stands in for the web: BM25 (default), dense, or hybrid."""

from nanosearch.search.bm25 import BM25Settings
from nanosearch.search.dense import DEFAULT_MODEL as DEFAULT_DENSE_MODEL
from nanosearch.search.engine import MAX_K, SearchEngine, build_index, load
from nanosearch.search.hit import Hit
from nanosearch.search.hybrid import reciprocal_rank_fusion
from nanosearch.search.manifest import RETRIEVERS, Manifest

__all__ = [
    "DEFAULT_DENSE_MODEL",
    "MAX_K",
    "RETRIEVERS",
    "BM25Settings",
    "Hit",
    "Manifest",
    "SearchEngine",
    "build_index",
    "load",
    "reciprocal_rank_fusion",
]
