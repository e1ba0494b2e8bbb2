"""Corpus readers, each on its own format, with real bundled files where they exist."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanosearch.assets import MUSIQUE_SAMPLE, MUSIQUE_SAMPLE_PARAGRAPHS, WIKI_PASSAGES
from nanosearch.corpus import (
    Document,
    Problem,
    content_id,
    detect_format,
    document_from_record,
    read_corpus,
)
from nanosearch.errors import CorpusError
from tests.conftest import write_lines


def collect(path: Path, format: str = "auto") -> tuple[list[Document], list[Problem]]:
    problems: list[Problem] = []
    documents = list(read_corpus(path, format, progress=False, on_problem=problems.append))
    return documents, problems


def test_flashrag_contents_format_splits_quoted_title_from_text() -> None:
    documents, problems = collect(WIKI_PASSAGES, "jsonl")
    assert len(documents) == 1000
    assert not problems
    first = documents[0]
    assert first.id == "0"
    assert first.title == "Evan Morris"
    assert first.text.startswith("Evan Morris Evan L. Morris (January 26, 1977")
    assert first.url is None


def test_musique_paragraphs_are_deduplicated_to_the_reference_set() -> None:
    documents, problems = collect(MUSIQUE_SAMPLE, "musique")
    reference = json.loads(MUSIQUE_SAMPLE_PARAGRAPHS.read_text())
    assert not problems
    assert len(documents) == len(reference) == 1890
    assert {(d.title, d.text) for d in documents} == {(p["title"], p["text"]) for p in reference}
    assert len({d.id for d in documents}) == 1890


def test_musique_ids_do_not_depend_on_line_order(tmp_path: Path) -> None:
    reversed_file = write_lines(
        tmp_path / "reversed.jsonl", MUSIQUE_SAMPLE.read_text().splitlines()[::-1]
    )
    forward = {d.id: d for d in collect(MUSIQUE_SAMPLE)[0]}
    backward = {d.id: d for d in collect(reversed_file)[0]}
    assert forward == backward


def test_title_text_records_keep_url_and_give_stable_ids_when_missing(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "corpus.jsonl",
        [
            json.dumps(
                {
                    "id": "a",
                    "title": "Paris",
                    "text": "Capital of France.",
                    "url": "https://x/paris",
                }
            ),
            json.dumps({"title": "Rome", "text": "Capital of Italy."}),
            json.dumps({"id": 7, "text": "No title here."}),
        ],
    )
    documents, problems = collect(path)
    assert not problems
    assert documents[0] == Document("a", "Paris", "Capital of France.", "https://x/paris")
    assert documents[1].id == content_id("doc", "Rome", "Capital of Italy.")
    assert documents[2] == Document("7", "", "No title here.")


def test_malformed_lines_are_reported_with_their_line_number_and_skipped(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"id": "1", "contents": '"One"\nfirst'}),
            "{not json",
            "",
            json.dumps([1, 2]),
            json.dumps({"id": "2", "body": "wrong field"}),
            json.dumps({"id": "1", "contents": '"Again"\nduplicate id'}),
            json.dumps({"id": "3", "text": 42}),
            json.dumps({"id": "4", "contents": '"Four"\nfourth'}),
        ],
    )
    documents, problems = collect(path)
    assert [d.id for d in documents] == ["1", "4"]
    assert [p.line for p in problems] == [2, 4, 5, 6, 7]
    messages = [p.message for p in problems]
    assert "invalid JSON" in messages[0]
    assert "JSON object" in messages[1]
    assert "'contents'" in messages[2]
    assert "duplicate id '1'" in messages[3]
    assert "'text' must be a string" in messages[4]
    assert str(problems[0]).startswith(f"{path}: line 2: ")


def test_a_file_without_any_valid_document_is_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", ["{broken", json.dumps({"id": "x"})])
    with pytest.raises(CorpusError, match=r"no valid jsonl document found \(2 malformed"):
        collect(path, "jsonl")


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(CorpusError, match="cannot detect the format"):
        collect(path)


def test_missing_file_unknown_format_and_json_array_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="corpus file not found"):
        collect(tmp_path / "nope.jsonl")
    with pytest.raises(CorpusError, match="unknown corpus format 'csv'"):
        collect(WIKI_PASSAGES, "csv")
    with pytest.raises(CorpusError, match="a JSON array"):
        collect(MUSIQUE_SAMPLE_PARAGRAPHS)
    with pytest.raises(CorpusError, match="not a file"):
        collect(tmp_path)


def test_format_detection(tmp_path: Path) -> None:
    assert detect_format(MUSIQUE_SAMPLE) == "musique"
    assert detect_format(WIKI_PASSAGES) == "jsonl"
    table = pa.table({"id": ["a"], "contents": ['"A"\ntext']})
    pq.write_table(table, tmp_path / "c.parquet")
    assert detect_format(tmp_path / "c.parquet") == "parquet"


def test_gzip_jsonl_streams_the_same_documents(tmp_path: Path) -> None:
    compressed = tmp_path / "wiki.jsonl.gz"
    compressed.write_bytes(gzip.compress(WIKI_PASSAGES.read_bytes()))
    assert collect(compressed)[0] == collect(WIKI_PASSAGES)[0]


@pytest.mark.parametrize(
    "columns",
    [
        {"id": ["a", "b"], "contents": ['"Alpha"\nfirst text', '"Beta"\nsecond text']},
        {
            "id": ["a", "b"],
            "title": ["Alpha", "Beta"],
            "text": ["first text", "second text"],
            "url": ["u1", None],
        },
    ],
)
def test_parquet_in_both_column_layouts(tmp_path: Path, columns: dict) -> None:
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table(columns), path)
    documents, problems = collect(path)
    assert not problems
    assert [(d.id, d.title, d.text) for d in documents] == [
        ("a", "Alpha", "first text"),
        ("b", "Beta", "second text"),
    ]


def test_parquet_bad_rows_are_reported_by_row_and_bad_schema_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["ok", "", "fine"]}), path)
    documents, problems = collect(path)
    assert [d.id for d in documents] == ["a", "c"]
    assert [(p.unit, p.line) for p in problems] == [("row", 2)]
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), tmp_path / "wrong.parquet")
    with pytest.raises(CorpusError, match="needs a 'contents' or a 'text' column"):
        collect(tmp_path / "wrong.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(CorpusError, match="not a readable Parquet file"):
        collect(tmp_path / "junk.parquet")


def test_reading_is_lazy() -> None:
    stream = read_corpus(WIKI_PASSAGES, progress=False)
    assert next(stream).id == "0"
    assert next(stream).id == "1"


def test_malformed_musique_records_are_reported(tmp_path: Path) -> None:
    good = MUSIQUE_SAMPLE.read_text().splitlines()[0]
    path = write_lines(
        tmp_path / "m.jsonl",
        [
            good,
            json.dumps({"id": "2hop_x", "paragraphs": "nope"}),
            json.dumps({"id": "2hop_y", "paragraphs": [{"title": "T"}]}),
        ],
    )
    documents, problems = collect(path, "musique")
    assert len(documents) == 20
    assert [(p.line, p.message.split(" ")[0]) for p in problems] == [(2, "a"), (3, "paragraph")]


json_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.lists(st.text(max_size=5), max_size=3)
)
records = st.dictionaries(
    st.sampled_from(["id", "contents", "title", "text", "url", "other"]), json_values, max_size=5
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_any_record_gives_a_document_or_a_value_error(record: dict) -> None:
    try:
        document = document_from_record(record)
    except ValueError as error:
        assert str(error)
    else:
        assert isinstance(document.id, str) and document.id
        assert isinstance(document.text, str) and isinstance(document.title, str)
        assert document.text or document.title


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "text": "t", "n": ' + "7" * 5000 + "}", "invalid JSON"),
        ('{"id": "x", "text": ' + "[" * 1000 + "]" * 1000 + "}", "invalid JSON"),
        ('{"id": "x", "title": "\\ud800", "text": "t"}', "'title' holds a lone surrogate"),
        ('{"id": "x", "text": "a\\udfff"}', "'text' holds a lone surrogate (\\udfff)"),
        ('{"id": "\\ud800", "text": "t"}', "'id' holds a lone surrogate"),
    ],
    ids=["huge-integer", "deep-nesting", "surrogate-title", "surrogate-text", "surrogate-id"],
)
def test_hostile_lines_are_skipped_and_the_index_still_builds(
    tmp_path: Path, line: str, message: str
) -> None:
    from nanosearch.search import build_index

    good = [json.dumps({"id": "1", "text": "first passage"}), json.dumps({"id": "2", "text": "b"})]
    path = write_lines(tmp_path / "corpus.jsonl", [good[0], line, good[1]])
    documents, problems = collect(path)
    assert [d.id for d in documents] == ["1", "2"]
    assert [p.line for p in problems] == [2] and message in problems[0].message
    assert len(problems[0].message) < 400
    build_index(read_corpus(path, progress=False), tmp_path / "index", "bm25", progress=False)


def test_a_hostile_musique_paragraph_is_skipped(tmp_path: Path) -> None:
    paragraphs = [{"title": "\ud800", "paragraph_text": "x"}, {"title": "A", "paragraph_text": "y"}]
    path = tmp_path / "musique.jsonl"
    path.write_text(json.dumps({"paragraphs": paragraphs}) + "\n")
    documents, problems = collect(path, "musique")
    assert [d.title for d in documents] == ["A"]
    assert "paragraph 0: 'title' holds a lone surrogate" in problems[0].message


def test_a_truncated_archive_is_an_error_naming_the_file_and_how_far_it_got(
    tmp_path: Path,
) -> None:
    lines = [json.dumps({"id": str(i), "text": f"passage {i} " * 20}) for i in range(2000)]
    whole = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        CorpusError,
        match=r"cut\.jsonl\.gz: the compressed file is damaged or cut short after line [1-9]",
    ):
        list(read_corpus(path, progress=False))
