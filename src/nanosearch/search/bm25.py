"""BM25 over bm25s: Lucene scoring, Snowball stemming and English stopwords by default."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import bm25s
import Stemmer

from nanosearch.errors import CorruptIndexError

SUBDIR = "bm25"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"

Ranked = list[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class BM25Settings:
    """How text is analysed and scored; stored in the manifest so queries match the index."""

    method: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    lower: bool = True
    stopwords: str | None = "en"
    stemmer: str | None = "english"
    token_pattern: str = TOKEN_PATTERN

    def tokenizer(self) -> bm25s.tokenization.Tokenizer:
        return bm25s.tokenization.Tokenizer(
            lower=self.lower,
            splitter=self.token_pattern,
            stopwords=self.stopwords or [],
            stemmer=Stemmer.Stemmer(self.stemmer) if self.stemmer else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BM25Builder:
    """Tokenises the corpus batch by batch, then builds the sparse score matrix once."""

    def __init__(self, settings: BM25Settings | None = None) -> None:
        self.settings = settings or BM25Settings()
        self._tokenizer = self.settings.tokenizer()
        self._token_ids: list[list[int]] = []

    def add(self, texts: list[str]) -> None:
        self._token_ids.extend(
            self._tokenizer.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False)
        )

    def save(self, directory: Path, progress: bool = True) -> dict[str, Any]:
        model = bm25s.BM25(method=self.settings.method, k1=self.settings.k1, b=self.settings.b)
        tokenized = self._tokenizer.to_tokenized_tuple(self._token_ids)
        model.index(tokenized, show_progress=progress)
        self._token_ids = []
        target = directory / SUBDIR
        model.save(str(target))
        self._tokenizer.save_vocab(str(target))
        return self.settings.to_dict()


class BM25Retriever:
    """Ranks documents by BM25 for a batch of queries."""

    def __init__(self, model: bm25s.BM25, tokenizer: bm25s.tokenization.Tokenizer) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._stopwords = frozenset(tokenizer.stopwords or ())
        self.num_documents = int(model.scores["num_docs"])

    def term_ids(self, query: str) -> list[int]:
        """The index's term ids of a query's words, as bm25s's tokenizer gives them, but read
        without writing: that tokenizer caches every word it has not seen (its
        ``word_to_stem`` grows with each query, ``update_vocab=False`` or not), so a server's
        memory would grow with every novel word a client sends. PyStemmer's own cache is
        bounded."""
        tokenizer = self._tokenizer
        ids = []
        for word in tokenizer.splitter(query.lower() if tokenizer.lower else query):
            known = tokenizer.word_to_id.get(word)
            if known is not None:
                ids.append(known)
            elif word not in self._stopwords and tokenizer.stemmer is not None:
                stem = tokenizer.stem_to_sid.get(tokenizer.stemmer(word))
                if stem is not None:
                    ids.append(stem)
        return ids

    @classmethod
    def load(cls, directory: Path, section: dict[str, Any], mmap: bool = True) -> BM25Retriever:
        target = directory / SUBDIR
        try:
            settings = BM25Settings(**section)
            logging.getLogger("bm25s").setLevel(logging.WARNING)
            model = bm25s.BM25.load(str(target), mmap=mmap, show_progress=False)
            tokenizer = settings.tokenizer()
            tokenizer.load_vocab(str(target))
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise CorruptIndexError(f"{target}: unreadable BM25 index ({error})") from error
        return cls(model, tokenizer)

    def retrieve(self, queries: list[str], k: int) -> list[Ranked]:
        """The top ``k`` rows and scores of each query; documents sharing no term are left out."""
        token_ids = [self.term_ids(query) for query in queries]
        k = min(k, self.num_documents)
        results: list[Ranked] = [[] for _ in queries]
        asked = [position for position, ids in enumerate(token_ids) if ids]
        if not asked:
            return results
        rows, scores = self._model.retrieve(
            [token_ids[position] for position in asked], k=k, show_progress=False
        )
        for position, row_list, score_list in zip(
            asked, rows.tolist(), scores.tolist(), strict=True
        ):
            results[position] = [
                (row, score) for row, score in zip(row_list, score_list, strict=True) if score > 0
            ]
        return results
