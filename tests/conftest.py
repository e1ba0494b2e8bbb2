"""Shared fixtures: real bundled data and indexes built once per test session."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from nanosearch.assets import MUSIQUE_SAMPLE, WIKI_PASSAGES
from nanosearch.corpus import read_corpus
from nanosearch.search import SearchEngine, build_index


@pytest.fixture(scope="session")
def musique_records() -> list[dict]:
    return [json.loads(line) for line in MUSIQUE_SAMPLE.read_text().splitlines()]


@pytest.fixture(scope="session")
def musique_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("indexes") / "musique-bm25"
    build_index(read_corpus(MUSIQUE_SAMPLE, progress=False), out, progress=False)
    return out


@pytest.fixture(scope="session")
def musique_engine(musique_index_dir: Path) -> SearchEngine:
    from nanosearch.search import load

    return load(musique_index_dir)


@pytest.fixture(scope="session")
def wiki_dense_engine(tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    out = tmp_path_factory.mktemp("indexes") / "wiki-dense"
    return build_index(read_corpus(WIKI_PASSAGES, progress=False), out, "dense", progress=False)


@pytest.fixture(scope="session")
def wiki_hybrid_engine(tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    out = tmp_path_factory.mktemp("indexes") / "wiki-hybrid"
    return build_index(read_corpus(WIKI_PASSAGES, progress=False), out, "hybrid", progress=False)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(index: Path, *options: str) -> Iterator[str]:
    """``nanosearch serve`` in a real subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nanosearch.cli",
            "serve",
            "--index",
            str(index),
            "--port",
            str(port),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited: {process.stderr.read() if process.stderr else ''}"
                )
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
