"""The document store of an index: an Arrow IPC file read through a memory map.

Rows are written in batches while the corpus streams in, so building never holds the corpus in
memory; loading maps the file and costs no copy, so a million-passage index opens in
milliseconds. Looking a document up by id builds the id → row table on first use only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from nanosearch.corpus import Document
from nanosearch.errors import CorruptIndexError, DocumentNotFoundError

FILENAME = "documents.arrow"
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("url", pa.string()),
    ]
)


class DocumentWriter:
    """Appends documents to a store file in record batches."""

    def __init__(self, directory: Path, batch_size: int = 4096) -> None:
        self.path = directory / FILENAME
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_file(self._sink, SCHEMA)
        self._pending: list[Document] = []
        self._batch_size = batch_size
        self.count = 0

    def add(self, documents: Iterable[Document]) -> None:
        for document in documents:
            self._pending.append(document)
            if len(self._pending) >= self._batch_size:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        columns = {
            name: [getattr(document, name) for document in self._pending] for name in SCHEMA.names
        }
        self._writer.write_batch(pa.record_batch(columns, schema=SCHEMA))
        self.count += len(self._pending)
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._sink.close()


class DocumentStore:
    """Read-only access to the documents of an index, by row or by id."""

    def __init__(self, table: pa.Table, path: Path) -> None:
        self._table = table
        self._path = path
        self._lookups: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, directory: Path, mmap: bool = True) -> DocumentStore:
        path = directory / FILENAME
        try:
            source = pa.memory_map(str(path), "r") if mmap else pa.OSFile(str(path), "rb")
            table = pa.ipc.open_file(source).read_all()
        except (OSError, pa.ArrowInvalid) as error:
            raise CorruptIndexError(f"{path}: unreadable document store ({error})") from error
        if table.schema.names != SCHEMA.names:
            raise CorruptIndexError(f"{path}: unexpected columns {table.schema.names}")
        return cls(table, path)

    def __len__(self) -> int:
        return self._table.num_rows

    def rows(self, rows: Sequence[int]) -> list[Document]:
        """The documents at the given rows, in that order."""
        if not rows:
            return []
        taken = self._table.take(pa.array(rows, type=pa.int64())).to_pylist()
        return [Document(**record) for record in taken]

    def _rows_by(self, column: str) -> dict[str, int]:
        """Value → row for a column, built on first use (once, whichever thread asks)."""
        if column not in self._lookups:
            with self._lock:
                if column not in self._lookups:
                    values = self._table.column(column).to_pylist()
                    self._lookups[column] = {v: row for row, v in enumerate(values) if v}
        return self._lookups[column]

    def row_of_id(self, doc_id: str) -> int | None:
        return self._rows_by("id").get(doc_id)

    def row_of_url(self, url: str) -> int | None:
        return self._rows_by("url").get(url)

    def get(self, doc_id: str) -> Document:
        row = self.row_of_id(doc_id)
        if row is None:
            raise DocumentNotFoundError(f"no document with id {doc_id!r} in the index")
        return self.rows([row])[0]
