"""Files that survive a kill: each is written beside its final name, flushed to disk and
renamed into place, so a reader finds the old file or the new one, never half of one; and a
lock per run directory, so two runs never write into the same one."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nanosearch.errors import NanosearchError

LOCK_FILE = ".lock"


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as sink:
        sink.write(text)
        sink.flush()
        os.fsync(sink.fileno())
    partial.replace(path)


def write_json(path: Path, value: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


@contextmanager
def directory_lock(directory: Path, what: str) -> Iterator[None]:
    """Hold ``directory``'s lock for the block, or fail at once naming the directory. The
    lock is the operating system's (``flock``): a killed holder releases it."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NanosearchError(
                f"{directory} is in use by another {what}: wait for it, or choose another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
