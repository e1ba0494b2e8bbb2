"""Corpus readers: JSONL (Search-R1/FlashRAG, title/text), MuSiQue, Parquet → :class:`Document`."""

from nanosearch.corpus.document import Document
from nanosearch.corpus.readers import (
    FORMATS,
    Problem,
    content_id,
    detect_format,
    document_from_record,
    read_corpus,
)

__all__ = [
    "FORMATS",
    "Document",
    "Problem",
    "content_id",
    "detect_format",
    "document_from_record",
    "read_corpus",
]
