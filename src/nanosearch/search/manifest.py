"""The manifest that makes a directory an index: what was built, from what, and how."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nanosearch.errors import CorruptIndexError, IndexNotFoundError

FILENAME = "manifest.json"
FORMAT_VERSION = 1
RETRIEVERS = ("bm25", "dense", "hybrid")


@dataclass(slots=True)
class Manifest:
    """``files`` maps every file of the index to its size in bytes: a cheap check on load that
    catches truncated or missing files without reading them."""

    retriever: str
    num_documents: int
    corpus: dict[str, Any]
    bm25: dict[str, Any] | None = None
    dense: dict[str, Any] | None = None
    files: dict[str, int] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    nanosearch_version: str = ""
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, directory: Path) -> None:
        (directory / FILENAME).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        if not directory.exists():
            raise IndexNotFoundError(f"index not found: {directory} does not exist")
        path = directory / FILENAME
        if not path.exists():
            raise IndexNotFoundError(
                f"not an index: {directory} has no {FILENAME} (build one with `nanosearch index`)"
            )
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CorruptIndexError(f"{path}: unreadable manifest ({error})") from error
        if not isinstance(raw, dict):
            raise CorruptIndexError(f"{path}: the manifest is not a JSON object")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise CorruptIndexError(
                f"{path}: index format version {version!r}, this nanosearch reads "
                f"{FORMAT_VERSION}; rebuild the index"
            )
        try:
            manifest = cls(**raw)
        except TypeError as error:
            raise CorruptIndexError(f"{path}: malformed manifest ({error})") from error
        if manifest.retriever not in RETRIEVERS:
            raise CorruptIndexError(f"{path}: unknown retriever {manifest.retriever!r}")
        return manifest

    def check_files(self, directory: Path) -> None:
        for name, size in self.files.items():
            path = directory / name
            if not path.is_file():
                raise CorruptIndexError(f"corrupt index: {path} is missing")
            actual = path.stat().st_size
            if actual != size:
                raise CorruptIndexError(
                    f"corrupt index: {path} has {actual} bytes, the manifest says {size}"
                )


def file_sizes(directory: Path) -> dict[str, int]:
    return {
        str(path.relative_to(directory)): path.stat().st_size
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != FILENAME
    }
