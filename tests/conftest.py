"""Shared fixtures: real bundled data and indexes built once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanosearch.assets import MUSIQUE_SAMPLE, QWEN3_TOKENIZER, WIKI_PASSAGES
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


TOKENIZER_DIR = QWEN3_TOKENIZER


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised Qwen3-architecture model saved with save_pretrained: the stand-in
    for Qwen3-4B, whose weights cannot be had here."""
    from nanosearch.models import build_tiny_qwen3

    return build_tiny_qwen3(TOKENIZER_DIR, tmp_path_factory.mktemp("models") / "tiny-qwen3")
