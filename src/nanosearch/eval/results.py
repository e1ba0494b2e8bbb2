"""Append-only JSONL files of a run, written one finished question at a time.

Each line is flushed and synced before the next question starts, so a run killed at any
moment (even ``kill -9``) loses at most the line being written. Reading repairs that: a last
line cut short is dropped from the file, and its question is simply done again.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from nanosearch.errors import NanosearchError


class JsonlLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> list[dict[str, Any]]:
        """Every complete row; a torn last line is cut off the file. A broken line elsewhere
        is an error naming it: the file was edited, not interrupted."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        rows = []
        for number, line in enumerate(data[:cut].split(b"\n")[:-1], start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise NanosearchError(
                    f"{self.path}: line {number} is not JSON; the file was edited "
                    "(only a last line cut short is repaired)"
                ) from None
        tail = data[cut:]
        if tail.strip():
            try:
                rows.append(json.loads(tail))
            except ValueError:
                self._truncate(cut)
            else:
                with self.path.open("ab") as stream:
                    stream.write(b"\n")
        return rows

    def _truncate(self, size: int) -> None:
        with self.path.open("r+b") as stream:
            stream.truncate(size)

    def append(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as stream:
            stream.write(line)
            stream.flush()
            os.fsync(stream.fileno())
