"""Streaming readers that turn corpus files into :class:`Document` records.

Every reader is a generator: a multi-gigabyte corpus is read once, line by line (or row
group by row group for Parquet), never held in memory whole. A malformed record is reported
through ``on_problem`` with its line (or row) number and skipped; a file without a single
valid record is a :class:`CorpusError`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tqdm.auto import tqdm

from nanosearch.corpus.document import Document
from nanosearch.errors import CorpusError

FORMATS = ("auto", "jsonl", "musique", "parquet")
PARQUET_SUFFIXES = (".parquet", ".pq")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Problem:
    """One malformed record: where it is and what is wrong with it."""

    path: str
    line: int
    message: str
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.path}: {self.unit} {self.line}: {self.message}"


ProblemHandler = Callable[[Problem], None]


def log_problem(problem: Problem) -> None:
    logger.warning("skipping malformed record: %s", problem)


def content_id(prefix: str, title: str, text: str) -> str:
    """A stable id derived from a passage's content, for sources that give none."""
    digest = hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"


def detect_format(path: str | Path) -> str:
    """Guess a corpus file's format from its suffix and, for JSON lines, its first record."""
    path = Path(path)
    _check_readable(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    number = 0
    with _open_text(path) as stream:
        try:
            for line in stream:
                number += 1
                stripped = line.strip()
                if not stripped:
                    continue
                if stripped.startswith("["):
                    raise CorpusError(
                        f"{path}: a JSON array, not JSON lines; write one JSON object per line"
                    )
                try:
                    record = json.loads(stripped)
                except (ValueError, RecursionError):  # also over-long integers, deep nesting
                    continue
                if isinstance(record, dict):
                    return "musique" if "paragraphs" in record else "jsonl"
        except (EOFError, OSError, zlib.error) as error:
            raise CorpusError(
                f"{path}: the compressed file is damaged or cut short after line {number}: {error}"
            ) from None
    raise CorpusError(f"{path}: cannot detect the format: no JSON object found in the file")


def read_corpus(
    path: str | Path,
    format: str = "auto",
    *,
    progress: bool = True,
    on_problem: ProblemHandler = log_problem,
) -> Iterator[Document]:
    """Stream the documents of a corpus file of any supported format.

    Formats: ``jsonl`` (records ``{id, contents}`` as in Search-R1/FlashRAG, where ``contents`` is
    ``"Title"\\ntext``, or ``{id, title, text[, url]}``), ``musique`` (the official MuSiQue JSONL:
    the paragraphs of every question, de-duplicated by title and text), ``parquet`` (columns as
    in ``jsonl``), or ``auto`` to detect it. Files ending in ``.gz`` are decompressed on the fly.
    """
    path = Path(path)
    if format not in FORMATS:
        raise CorpusError(f"unknown corpus format {format!r}; expected one of {', '.join(FORMATS)}")
    _check_readable(path)
    if format == "auto":
        format = detect_format(path)
    reader = {"jsonl": _read_jsonl, "musique": _read_musique, "parquet": _read_parquet}[format]
    problems = 0
    first_problem: Problem | None = None

    def report(problem: Problem) -> None:
        nonlocal problems, first_problem
        problems += 1
        first_problem = first_problem or problem
        on_problem(problem)

    valid = 0
    for document in reader(path, progress, report):
        valid += 1
        yield document
    if valid == 0:
        detail = f"; first problem: {first_problem}" if first_problem else ""
        raise CorpusError(
            f"{path}: no valid {format} document found ({problems} malformed records{detail})"
        )


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CorpusError(f"corpus file not found: {path}")
    if not path.is_file():
        raise CorpusError(f"corpus path is not a file: {path}")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def _json_lines(
    path: Path, progress: bool, report: ProblemHandler
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each line that holds a JSON object."""
    compressed = path.suffix == ".gz"
    total = None if compressed else path.stat().st_size
    with (
        path.open("rb") as raw,
        tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=f"reading {path.name}",
            disable=not progress or None,
        ) as bar,
    ):
        stream: IO[bytes] = gzip.open(raw) if compressed else raw  # type: ignore[assignment]  # noqa: SIM115
        number = 0
        lines = iter(stream)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as error:
                raise CorpusError(
                    f"{path}: the compressed file is damaged or cut short after line {number} "
                    f"({raw.tell():,} compressed bytes read): {error}"
                ) from None
            number += 1
            bar.update(len(line))
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as error:  # also over-long integers, deep nesting
                report(Problem(str(path), number, f"invalid JSON ({_short(error)})"))
                continue
            if not isinstance(record, dict):
                report(Problem(str(path), number, f"expected a JSON object, got {_kind(record)}"))
                continue
            yield number, record


def _short(error: Exception) -> str:
    message = str(error) or type(error).__name__
    return message if len(message) <= 200 else message[:200] + "…"


def check_text(field: str, value: str) -> None:
    """Raise ``ValueError`` naming ``field`` if ``value`` cannot be written as UTF-8 (a lone
    surrogate such as ``\\ud800``, which JSON escapes allow)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = value[error.start]
        raise ValueError(
            f"'{field}' holds a lone surrogate (\\u{ord(bad):04x}) at character {error.start}"
        ) from None


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", type(None): "null"}.get(type(value), "a number")


def document_from_record(record: dict[str, Any]) -> Document:
    """Build a document from a ``{id, contents}`` or ``{id, title, text[, url]}`` record.

    Raises ``ValueError`` naming the field at fault.
    """
    if "contents" in record:
        contents = record["contents"]
        if not isinstance(contents, str):
            raise ValueError(f"'contents' must be a string, got {_kind(contents)}")
        title, _, text = contents.partition("\n") if "\n" in contents else ("", "", contents)
        title = title.strip()
        if len(title) >= 2 and title[0] == title[-1] == '"':
            title = title[1:-1]
    elif "text" in record:
        text, title = record["text"], record.get("title") or ""
        if not isinstance(text, str):
            raise ValueError(f"'text' must be a string, got {_kind(text)}")
        if not isinstance(title, str):
            raise ValueError(f"'title' must be a string, got {_kind(title)}")
    else:
        raise ValueError("a record needs 'contents', or 'text' (with an optional 'title')")
    text = text.strip()
    if not text and not title:
        raise ValueError("the document is empty")
    check_text("title", title)
    check_text("text", text)
    raw_id = record.get("id")
    if raw_id is None or raw_id == "":
        doc_id = content_id("doc", title, text)
    elif isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        doc_id = str(raw_id)
    else:
        raise ValueError(f"'id' must be a string or an integer, got {_kind(raw_id)}")
    url = record.get("url")
    if url is not None and not isinstance(url, str):
        raise ValueError(f"'url' must be a string, got {_kind(url)}")
    check_text("id", doc_id)
    check_text("url", url or "")
    return Document(id=doc_id, title=title, text=text, url=url or None)


def _documents(
    records: Iterable[tuple[int, dict[str, Any]]], path: Path, unit: str, report: ProblemHandler
) -> Iterator[Document]:
    """Documents from ``(position, record)`` pairs: records that are not documents, or repeat
    an id already read, are reported at their position and skipped."""
    seen: dict[str, int] = {}
    for position, record in records:
        try:
            document = document_from_record(record)
        except ValueError as error:
            report(Problem(str(path), position, str(error), unit))
            continue
        if document.id in seen:
            first = seen[document.id]
            message = f"duplicate id {document.id!r} (first on {unit} {first})"
            report(Problem(str(path), position, message, unit))
            continue
        seen[document.id] = position
        yield document


def _read_jsonl(path: Path, progress: bool, report: ProblemHandler) -> Iterator[Document]:
    return _documents(_json_lines(path, progress, report), path, "line", report)


def _read_musique(path: Path, progress: bool, report: ProblemHandler) -> Iterator[Document]:
    """The unique paragraphs of a MuSiQue file; ids depend on title and text only, so they are
    the same whichever split or sample a paragraph is read from."""
    seen: set[str] = set()
    for number, record in _json_lines(path, progress, report):
        paragraphs = record.get("paragraphs")
        if not isinstance(paragraphs, list):
            report(Problem(str(path), number, "a MuSiQue record needs a 'paragraphs' list"))
            continue
        for position, paragraph in enumerate(paragraphs):
            title = paragraph.get("title") if isinstance(paragraph, dict) else None
            text = paragraph.get("paragraph_text") if isinstance(paragraph, dict) else None
            if not isinstance(title, str) or not isinstance(text, str):
                report(
                    Problem(
                        str(path),
                        number,
                        f"paragraph {position} needs string 'title' and 'paragraph_text'",
                    )
                )
                continue
            try:
                check_text("title", title)
                check_text("paragraph_text", text)
            except ValueError as error:
                report(Problem(str(path), number, f"paragraph {position}: {error}"))
                continue
            doc_id = content_id("musique", title, text)
            if doc_id in seen:
                continue
            seen.add(doc_id)
            yield Document(id=doc_id, title=title, text=text)


def _read_parquet(path: Path, progress: bool, report: ProblemHandler) -> Iterator[Document]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:
        raise CorpusError(f"{path}: not a readable Parquet file ({error})") from error
    columns = set(parquet.schema_arrow.names)
    if "contents" not in columns and "text" not in columns:
        raise CorpusError(
            f"{path}: a Parquet corpus needs a 'contents' or a 'text' column; "
            f"it has {sorted(columns)}"
        )
    wanted = [name for name in ("id", "contents", "title", "text", "url") if name in columns]

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        row = 0
        with tqdm(
            total=parquet.metadata.num_rows,
            unit="doc",
            desc=f"reading {path.name}",
            disable=not progress or None,
        ) as bar:
            for batch in parquet.iter_batches(batch_size=8192, columns=wanted):
                for record in batch.to_pylist():
                    row += 1
                    yield row, record
                bar.update(batch.num_rows)

    return _documents(rows(), path, "row", report)
