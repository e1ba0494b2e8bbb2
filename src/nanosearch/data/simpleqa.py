"""SimpleQA: the official CSV (``metadata, problem, answer``) by local path or hub id."""

from __future__ import annotations

import ast
import csv
from collections.abc import Collection
from pathlib import Path
from typing import Any

from nanosearch.data.source import (
    is_local_file,
    load_hub_rows,
    looks_like_missing_file,
    sample_and_limit,
)
from nanosearch.errors import NanosearchError

COLUMNS = ("metadata", "problem", "answer")
SIZE = 4326


def example_of(row: dict[str, Any], index: int) -> dict[str, Any]:
    """An evaluation example; ``id`` is the row's position in the full set, stable under any
    filter or sample."""
    missing = [column for column in COLUMNS if column not in row]
    if missing:
        raise ValueError(f"missing column {missing[0]!r}")
    metadata = row["metadata"]
    if isinstance(metadata, str):
        try:
            metadata = ast.literal_eval(metadata)
        except (ValueError, SyntaxError) as error:
            raise ValueError(f"'metadata' is not a Python dict literal ({error})") from None
    if not isinstance(metadata, dict):
        raise ValueError("'metadata' must be a dict with topic, answer_type and urls")
    return {
        "id": f"simpleqa-{index}",
        "problem": str(row["problem"]),
        "answer": str(row["answer"]),
        "topic": metadata.get("topic"),
        "answer_type": metadata.get("answer_type"),
        "urls": list(metadata.get("urls") or []),
    }


def load_simpleqa(
    source: str | Path,
    *,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    topics: Collection[str] | None = None,
    answer_types: Collection[str] | None = None,
    split: str = "test",
) -> list[dict[str, Any]]:
    """Filter by topic and answer type, then take a seeded ``sample`` or the first ``limit``."""
    if is_local_file(source):
        with Path(source).open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            if reader.fieldnames is None or set(COLUMNS) - set(reader.fieldnames):
                found = reader.fieldnames
                raise NanosearchError(
                    f"{source}: expected the columns {', '.join(COLUMNS)}; found {found}"
                )
            rows = list(reader)
    elif looks_like_missing_file(source, (".csv",)):
        raise NanosearchError(f"SimpleQA file not found: {source}")
    else:
        rows = load_hub_rows(str(source), split)
    examples = []
    for index, row in enumerate(rows):
        try:
            examples.append(example_of(row, index))
        except ValueError as error:
            raise NanosearchError(f"{source}: row {index + 2}: {error}") from None
    if topics:
        examples = [e for e in examples if e["topic"] in set(topics)]
    if answer_types:
        examples = [e for e in examples if e["answer_type"] in set(answer_types)]
    examples = sample_and_limit(examples, sample, limit, seed)
    if not examples:
        raise NanosearchError(f"{source}: no SimpleQA question left after the filters")
    return examples
