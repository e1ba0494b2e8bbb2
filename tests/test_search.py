"""The search engine on the bundled MuSiQue paragraphs and Wikipedia passages: retrieval quality,
the batched interface, the index directory and every error path."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nanosearch.assets import WIKI_PASSAGES
from nanosearch.corpus import Document, content_id, read_corpus
from nanosearch.errors import (
    CorruptIndexError,
    DocumentNotFoundError,
    IndexNotFoundError,
    NanosearchError,
    QueryError,
)
from nanosearch.search import SearchEngine, build_index, load, reciprocal_rank_fusion


def supporting_ids(record: dict) -> set[str]:
    return {
        content_id("musique", p["title"], p["paragraph_text"])
        for p in record["paragraphs"]
        if p["is_supporting"]
    }


def test_supporting_paragraph_of_a_question_is_the_top_hit(musique_engine: SearchEngine) -> None:
    hits = musique_engine.search(
        ["What is the name of the waterfall in the country where the Bubye River is found?"], k=5
    )[0]
    assert hits[0].title == "Bubye River"
    assert hits[0].id == content_id("musique", hits[0].title, musique_engine.fetch(hits[0].id).text)


def test_supporting_paragraphs_are_retrieved_for_most_questions(
    musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    results = musique_engine.search([r["question"] for r in musique_records], k=10)
    found = sum(
        bool(supporting_ids(r) & {h.id for h in hits})
        for r, hits in zip(musique_records, results, strict=True)
    )
    assert found >= 85, f"only {found} of 100 questions have a supporting paragraph in the top 10"


def test_first_hop_subquestions_find_their_paragraph(
    musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    questions, wanted = [], []
    for record in musique_records:
        step = record["question_decomposition"][0]
        paragraph = record["paragraphs"][step["paragraph_support_idx"]]
        questions.append(step["question"])
        wanted.append(content_id("musique", paragraph["title"], paragraph["paragraph_text"]))
    results = musique_engine.search(questions, k=5)
    found = sum(
        doc_id in {h.id for h in hits} for doc_id, hits in zip(wanted, results, strict=True)
    )
    assert found >= 90


def test_a_batch_returns_the_same_hits_as_single_queries(
    musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    questions = [r["question"] for r in musique_records[:8]]
    batched = musique_engine.search(questions, k=4)
    assert batched == [musique_engine.search([q], k=4)[0] for q in questions]


def test_hits_are_ranked_and_carry_title_snippet_and_score(musique_engine: SearchEngine) -> None:
    hits = musique_engine.search(["Journal of Mathematical Physics editor"], k=7)[0]
    assert len(hits) == 7
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert hits[0].title == "Journal of Mathematical Physics"
    assert 0 < len(hits[0].snippet) <= 201
    assert hits[0].snippet.endswith("…")
    assert set(hits[0].to_dict()) == {"id", "title", "snippet", "score", "url"}


def test_a_query_that_matches_nothing_returns_no_hits(musique_engine: SearchEngine) -> None:
    assert musique_engine.search(["the of and", "qwxzv plorgk"], k=5) == [[], []]


def test_k_larger_than_the_corpus_returns_every_match(tmp_path: Path) -> None:
    documents = [Document("a", "Alpha", "red apples"), Document("b", "Beta", "green apples")]
    engine = build_index(documents, tmp_path / "small", progress=False)
    assert sorted(h.id for h in engine.search(["apples"], k=50)[0]) == ["a", "b"]


@pytest.mark.parametrize(
    ("queries", "k", "message"),
    [
        ([], 5, "no query given"),
        (["ok", "   "], 5, "query 1 is empty"),
        ("a string", 5, "must be a list"),
        (["ok", 3], 5, "query 1 is not a string"),
        (["ok"], 0, "k must be an integer from 1 to 1000"),
        (["ok"], 1001, "k must be an integer"),
        (["ok"], True, "k must be an integer"),
    ],
)
def test_bad_queries_and_k_are_clear_errors(
    musique_engine: SearchEngine, queries: object, k: object, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        musique_engine.search(queries, k=k)  # type: ignore[arg-type]


def test_fetch_returns_the_whole_document_and_refuses_unknown_ids(
    musique_engine: SearchEngine,
) -> None:
    hit = musique_engine.search(["Bubye River Limpopo"], k=1)[0][0]
    document = musique_engine.fetch(hit.id)
    assert document.title == "Bubye River"
    assert document.text.startswith("The Bubye River, also known as Bubi River")
    with pytest.raises(DocumentNotFoundError, match="no document with id 'nope'"):
        musique_engine.fetch("nope")


def test_manifest_describes_the_index(musique_engine: SearchEngine) -> None:
    manifest = musique_engine.manifest
    assert manifest.format_version == 1
    assert manifest.retriever == "bm25"
    assert manifest.num_documents == len(musique_engine) == 1890
    assert len(manifest.corpus["sha256"]) == 64
    assert manifest.bm25 == {
        "method": "lucene",
        "k1": 1.5,
        "b": 0.75,
        "lower": True,
        "stopwords": "en",
        "stemmer": "english",
        "token_pattern": r"(?u)\b\w\w+\b",
    }
    assert set(manifest.files) >= {"documents.arrow", "bm25/vocab.tokenizer.json"}


def test_save_load_round_trip_with_and_without_mmap(
    musique_index_dir: Path, musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    questions = [r["question"] for r in musique_records[:20]]
    expected = musique_engine.search(questions, k=10)
    for mmap in (True, False):
        reloaded = load(musique_index_dir, mmap=mmap)
        assert reloaded.search(questions, k=10) == expected
        assert reloaded.manifest == musique_engine.manifest


def test_same_corpus_gives_same_hash_and_another_corpus_another(tmp_path: Path) -> None:
    docs = [Document("a", "A", "one"), Document("b", "B", "two")]
    first = build_index(docs, tmp_path / "1", progress=False).manifest.corpus["sha256"]
    again = build_index(docs, tmp_path / "2", progress=False).manifest.corpus["sha256"]
    other = build_index(docs[:1], tmp_path / "3", progress=False).manifest.corpus["sha256"]
    assert first == again != other


def test_search_is_safe_from_many_threads(
    musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    questions = [r["question"] for r in musique_records[:40]]
    expected = {q: musique_engine.search([q], k=5)[0] for q in questions}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: (q, musique_engine.search([q], k=5)[0]), questions * 3))
    assert all(hits == expected[q] for q, hits in results)


@pytest.fixture
def index_copy(musique_index_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(musique_index_dir, target)
    return target


def test_missing_index_and_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="does not exist"):
        load(tmp_path / "absent")
    with pytest.raises(IndexNotFoundError, match="has no manifest.json"):
        load(tmp_path)


def test_unreadable_manifest_is_corrupt(index_copy: Path) -> None:
    (index_copy / "manifest.json").write_text("{truncated")
    with pytest.raises(CorruptIndexError, match="unreadable manifest"):
        load(index_copy)


def test_manifest_of_another_format_version_asks_for_a_rebuild(index_copy: Path) -> None:
    manifest = json.loads((index_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndexError, match="rebuild the index"):
        load(index_copy)


def test_manifest_with_unknown_fields_is_corrupt(index_copy: Path) -> None:
    manifest = json.loads((index_copy / "manifest.json").read_text())
    manifest["surprise"] = 1
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndexError, match="malformed manifest"):
        load(index_copy)


def test_truncated_or_missing_files_are_corrupt(index_copy: Path) -> None:
    store = index_copy / "documents.arrow"
    store.write_bytes(store.read_bytes()[:1000])
    with pytest.raises(CorruptIndexError, match="documents.arrow has 1000 bytes"):
        load(index_copy)
    store.unlink()
    with pytest.raises(CorruptIndexError, match="documents.arrow is missing"):
        load(index_copy)


def test_damaged_file_of_the_right_size_is_corrupt(index_copy: Path) -> None:
    store = index_copy / "documents.arrow"
    store.write_bytes(b"\0" * store.stat().st_size)
    with pytest.raises(CorruptIndexError, match="unreadable document store"):
        load(index_copy)


def test_document_count_mismatch_is_corrupt(index_copy: Path) -> None:
    manifest = json.loads((index_copy / "manifest.json").read_text())
    manifest["num_documents"] = 5
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndexError, match="holds 1890 documents, the manifest says 5"):
        load(index_copy)


def test_rebuilding_replaces_an_index_but_never_a_foreign_directory(tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index([Document("a", "A", "first build")], out, progress=False)
    rebuilt = build_index([Document("b", "B", "second build")], out, progress=False)
    assert [h.id for h in rebuilt.search(["build"], k=5)[0]] == ["b"]
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(NanosearchError, match="not empty and is not an index"):
        build_index([Document("a", "A", "x")], foreign, progress=False)
    assert (foreign / "cat.jpg").read_bytes() == b"meow"


def test_a_build_that_dies_midway_leaves_no_index_behind(tmp_path: Path) -> None:
    def failing() -> Iterator[Document]:
        yield from read_corpus(WIKI_PASSAGES, progress=False)
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        build_index(failing(), tmp_path / "index", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_empty_corpus_and_unknown_retriever_are_errors(tmp_path: Path) -> None:
    with pytest.raises(NanosearchError, match="empty corpus"):
        build_index([], tmp_path / "i", progress=False)
    with pytest.raises(NanosearchError, match="unknown retriever 'splade'"):
        build_index([Document("a", "A", "x")], tmp_path / "i", "splade", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([[(1, 9.0), (2, 8.0), (3, 7.0)], [(3, 0.9), (1, 0.8)]], k=3)
    assert [row for row, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_dense_retrieval_finds_a_passage_by_meaning(wiki_dense_engine: SearchEngine) -> None:
    manifest = wiki_dense_engine.manifest
    assert manifest.retriever == "dense"
    assert manifest.dense == {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "dimension": 384,
        "metric": "cosine",
    }
    hits = wiki_dense_engine.search(
        ["a Washington lobbyist for a biotechnology company who died in 2015"], k=5
    )[0]
    assert "0" in [h.id for h in hits]
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


def test_dense_index_round_trips_through_mmap(wiki_dense_engine: SearchEngine) -> None:
    queries = ["Evan Morris Genentech", "history of a European city"]
    reloaded = load(wiki_dense_engine.directory, mmap=True)
    assert [[h.id for h in hits] for hits in reloaded.search(queries, k=5)] == [
        [h.id for h in hits] for hits in wiki_dense_engine.search(queries, k=5)
    ]


def test_hybrid_fuses_bm25_and_dense(wiki_hybrid_engine: SearchEngine) -> None:
    manifest = wiki_hybrid_engine.manifest
    assert manifest.retriever == "hybrid"
    assert manifest.bm25 and manifest.dense
    hits = wiki_hybrid_engine.search(["Evan Morris lobbyist Genentech Roche"], k=10)[0]
    assert hits[0].id == "0"
    assert len(hits) == 10
    assert hits[0].score == pytest.approx(2 / 61)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short  text\nhere", "short text here"),
        ("word " * 100, ("word " * 40).strip() + "…"),
        ("x" * 500, "x" * 200 + "…"),
        ("a" + " " * 1000 + "b", "a…"),
    ],
)
def test_snippet_is_the_opening_cut_at_a_word(text: str, expected: str) -> None:
    from nanosearch.search.hit import make_snippet

    assert make_snippet(text) == expected


def test_resolve_finds_a_document_by_id_or_url_and_nothing_else(tmp_path: Path) -> None:
    documents = [
        Document("p1", "Paris", "Capital of France.", "https://en.wikipedia.org/wiki/Paris"),
        Document("r1", "Rome", "Capital of Italy."),
    ]
    engine = build_index(documents, tmp_path / "i", progress=False)
    assert engine.resolve("p1") == documents[0]
    assert engine.resolve(" https://en.wikipedia.org/wiki/Paris ") == documents[0]
    assert engine.resolve("r1") == documents[1]
    for reference in ["/etc/passwd", "file:///etc/passwd", "https://example.com/", "../r1"]:
        with pytest.raises(DocumentNotFoundError, match="not the id or url of any document"):
            engine.resolve(reference)


def test_queries_read_the_vocabulary_without_growing_it(musique_index_dir: Path) -> None:
    """bm25s's tokenizer caches every unseen word, even when told not to update its vocabulary;
    a server would grow by every novel word a client sends. Ours reads it and writes nothing,
    and gives the term ids bm25s gives."""
    from nanosearch.search.bm25 import BM25Retriever

    retriever = BM25Retriever.load(
        musique_index_dir, load(musique_index_dir).manifest.bm25 or {}, mmap=True
    )
    tokenizer = retriever._tokenizer
    ordinary = ["Where does the Bubye River flow?", "the waterfalls of Zimbabwe", "of the and"]
    reference = tokenizer.tokenize(
        ordinary, update_vocab=False, return_as="ids", show_progress=False, allow_empty=False
    )
    sizes = [len(tokenizer.word_to_stem), len(tokenizer.word_to_id), len(tokenizer.stem_to_sid)]
    assert [retriever.term_ids(q) for q in ordinary] == reference
    novel = [" ".join(f"zq{i}x{j}running" for j in range(50)) for i in range(200)]
    retriever.retrieve(novel, k=3)
    assert [
        len(tokenizer.word_to_stem),
        len(tokenizer.word_to_id),
        len(tokenizer.stem_to_sid),
    ] == sizes
