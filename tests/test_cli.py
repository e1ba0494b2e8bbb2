"""The ``nanosearch`` command as a user runs it: a real subprocess of the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nanosearch.assets import MUSIQUE_SAMPLE, WIKI_PASSAGES

NANOSEARCH = [sys.executable, "-m", "nanosearch.cli"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NANOSEARCH, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]


@pytest.fixture(scope="module")
def wiki_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "wiki"
    result = run("index", "--corpus", WIKI_PASSAGES, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "indexed 1000 documents" in result.stdout
    assert "(jsonl)" in result.stdout
    return out


def test_index_detects_musique_and_writes_a_manifest(tmp_path: Path) -> None:
    result = run(
        "index", "--corpus", MUSIQUE_SAMPLE, "--out", tmp_path / "m", "--retriever", "bm25"
    )
    assert result.returncode == 0, result.stderr
    assert "indexed 1890 documents" in result.stdout
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["corpus"]["format"] == "musique"


def test_search_json_prints_one_object_per_query(wiki_index: Path) -> None:
    result = run(
        "search", "--index", wiki_index, "--k", "3", "--json", "Evan Morris lobbyist", "war history"
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["Evan Morris lobbyist", "war history"]
    assert all(len(line["hits"]) == 3 for line in lines)
    assert set(lines[0]["hits"][0]) == {"id", "title", "snippet", "score", "url"}
    assert lines[0]["hits"][0]["id"] == "0"


def test_search_text_output_ranks_hits(wiki_index: Path) -> None:
    result = run("search", "--index", wiki_index, "Evan Morris")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("query: Evan Morris\n  1. Evan Morris  [0]  score ")


def test_fetch_prints_the_document(wiki_index: Path) -> None:
    result = run("fetch", "--index", wiki_index, "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("id: 0\ntitle: Evan Morris\n\nEvan Morris Evan L. Morris")
    as_json = json.loads(run("fetch", "--index", wiki_index, "--json", "0").stdout)
    assert as_json["title"] == "Evan Morris"


def test_unknown_id_is_one_line_error(wiki_index: Path) -> None:
    assert_one_line_error(
        run("fetch", "--index", wiki_index, "no-such-id"), "no document with id 'no-such-id'"
    )


def test_empty_query_is_one_line_error(wiki_index: Path) -> None:
    assert_one_line_error(run("search", "--index", wiki_index, "  "), "query 0 is empty")


def test_bad_k_is_one_line_error(wiki_index: Path) -> None:
    assert_one_line_error(
        run("search", "--index", wiki_index, "--k", "0", "x"), "k must be an integer"
    )


def test_missing_index_is_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(run("search", "--index", tmp_path / "none", "q"), "index not found")


def test_missing_corpus_is_one_line_error(tmp_path: Path) -> None:
    result = run("index", "--corpus", tmp_path / "none.jsonl", "--out", tmp_path / "i")
    assert_one_line_error(result, "corpus file not found")


def test_unknown_format_and_retriever_are_one_line_errors(tmp_path: Path) -> None:
    result = run("index", "--corpus", WIKI_PASSAGES, "--out", tmp_path / "i", "--format", "xml")
    assert_one_line_error(result, "unknown corpus format 'xml'")
    result = run(
        "index", "--corpus", WIKI_PASSAGES, "--out", tmp_path / "i", "--retriever", "splade"
    )
    assert_one_line_error(result, "unknown retriever 'splade'")


def test_malformed_lines_are_warned_about_and_the_rest_indexed(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "1", "contents": "\\"A\\"\\nalpha"}\n{oops\n')
    result = run("index", "--corpus", corpus, "--out", tmp_path / "i")
    assert result.returncode == 0, result.stderr
    assert f"warning: skipped {corpus}: line 2: invalid JSON" in result.stderr
    assert "indexed 1 documents" in result.stdout


@pytest.mark.parametrize(
    "first",
    ['{"n": ' + "7" * 5000 + "}", "[" * 1000 + "]" * 1000, '{"a": ' + "[" * 999 + "]" * 999 + "}"],
    ids=["huge-integer", "deep-array", "deep-nesting"],
)
def test_a_hostile_first_line_is_skipped_while_the_format_is_detected(
    tmp_path: Path, first: str
) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(first + '\n{"id": "1", "contents": "\\"A\\"\\nalpha"}\n')
    result = run("index", "--corpus", corpus, "--out", tmp_path / "i")
    if first.startswith("["):
        assert_one_line_error(result, "a JSON array, not JSON lines")
        return
    assert result.returncode == 0, result.stderr
    assert f"warning: skipped {corpus}: line 1: invalid JSON" in result.stderr
    assert "indexed 1 documents" in result.stdout


def test_an_archive_cut_before_its_first_line_is_a_one_line_error(tmp_path: Path) -> None:
    import gzip

    whole = gzip.compress(json.dumps({"id": "1", "text": "alpha " * 5000}).encode())
    corpus = tmp_path / "cut.jsonl.gz"
    corpus.write_bytes(whole[:40])
    result = run("index", "--corpus", corpus, "--out", tmp_path / "i")
    assert_one_line_error(result, "cut.jsonl.gz: the compressed file is damaged or cut short")
