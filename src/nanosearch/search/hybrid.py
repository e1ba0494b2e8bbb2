"""Hybrid retrieval: reciprocal-rank fusion of BM25 and dense rankings."""

from __future__ import annotations

from collections import defaultdict

from nanosearch.search.bm25 import BM25Retriever
from nanosearch.search.dense import DenseRetriever

RRF_K = 60
CANDIDATES = 50

Ranked = list[tuple[int, float]]


def reciprocal_rank_fusion(rankings: list[Ranked], k: int, rrf_k: int = RRF_K) -> Ranked:
    """Fuse rankings by summing ``1 / (rrf_k + rank)``; ties keep the first ranking's order."""
    fused: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] += 1.0 / (rrf_k + rank)
    ordered = sorted(fused.items(), key=lambda item: -item[1])
    return ordered[:k]


class HybridRetriever:
    """Both retrievers fetch ``max(k, CANDIDATES)`` candidates; fusion keeps the top ``k``."""

    def __init__(self, sparse: BM25Retriever, dense: DenseRetriever) -> None:
        self.sparse = sparse
        self.dense = dense
        self.num_documents = sparse.num_documents

    def retrieve(self, queries: list[str], k: int) -> list[Ranked]:
        depth = max(k, CANDIDATES)
        sparse = self.sparse.retrieve(queries, depth)
        dense = self.dense.retrieve(queries, depth)
        return [reciprocal_rank_fusion([s, d], k) for s, d in zip(sparse, dense, strict=True)]
