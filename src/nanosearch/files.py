"""Files that survive a kill: each is written beside its final name, flushed to disk and
renamed into place, so a reader finds the old file or the new one, never half of one; and a
lock per run directory, so two runs never write into the same one."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
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


def append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append ``rows`` to a JSONL log and close it: a kill loses at most the line being
    written, which readers of these logs skip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as sink:
        sink.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def replace_directory(staging: Path, out: Path) -> None:
    """Put the complete directory ``staging`` at ``out``. An old ``out`` is renamed aside and
    deleted only once the new one is in place, so a kill at any point leaves a whole directory
    at ``out`` or, between the two renames, the old one aside, where
    :func:`restore_directory` finds it: never nothing, never half of one."""
    _sync_tree(staging)
    aside = _aside(out)
    if out.exists():
        shutil.rmtree(aside, ignore_errors=True)
        out.rename(aside)
    staging.rename(out)
    _sync(out.parent)
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def building(out: Path) -> Iterator[Path]:
    """``with building(out) as staging:`` write the new directory into ``staging``; when the
    block ends it replaces ``out`` (:func:`replace_directory`), or is deleted if the block
    raised."""
    restore_directory(out)
    staging = staging_directory(out)
    try:
        yield staging
        replace_directory(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def restore_directory(out: Path) -> None:
    """Undo what a kill inside :func:`replace_directory` left: the old directory put back if
    the new one never arrived, else deleted."""
    aside = _aside(out)
    if aside.exists():
        if out.exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.rename(out)


def staging_directory(out: Path) -> Path:
    """A new, empty directory beside ``out`` to build it in, named after this process. Those
    of builders that are no longer running (killed mid-build) are deleted first."""
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{out.name}.building-"
    for leftover in out.parent.glob(prefix + "*"):
        pid = leftover.name.removeprefix(prefix).partition("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=out.parent))


def _aside(out: Path) -> Path:
    return out.with_name(f".{out.name}.replaced")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _sync(directory)


def _sync(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


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
