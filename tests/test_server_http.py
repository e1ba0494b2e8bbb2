"""The HTTP server, started for real on a loopback port, driven with httpx: every endpoint and
every error path, auth, and concurrent clients."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nanosearch.search import SearchEngine
from nanosearch.server.process import process_ids, running_server

LIMITS = ("--max-batch", "300", "--max-query-chars", "600", "--max-body-bytes", "300000")


@pytest.fixture(scope="module")
def server(musique_index_dir: Path) -> Iterator[str]:
    with running_server(musique_index_dir, *LIMITS) as base:
        yield base


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as http:
        yield http


def assert_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def test_health_answers_get_and_head_and_info_holds_the_manifest(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body == {"status": "ok", "num_documents": 1890}
    assert client.head("/health").status_code == 200
    body = client.get("/info").json()
    assert body["num_documents"] == 1890
    assert body["manifest"]["retriever"] == "bm25"
    assert body["manifest"]["num_documents"] == 1890


def test_search_returns_one_ranked_list_per_query(
    client: httpx.Client, musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    questions = [r["question"] for r in musique_records[:12]]
    body = client.post("/search", json={"queries": questions, "k": 4}).json()
    expected = musique_engine.search(questions, k=4)
    assert len(body["results"]) == 12
    assert body["results"] == [[hit.to_dict() for hit in hits] for hits in expected]
    assert set(body["results"][0][0]) == {"id", "title", "snippet", "score", "url"}


def test_search_default_k_is_ten(client: httpx.Client) -> None:
    body = client.post("/search", json={"queries": ["river in Zimbabwe"]}).json()
    assert len(body["results"][0]) == 10


def test_fetch_pages_through_a_long_document(
    client: httpx.Client, musique_engine: SearchEngine
) -> None:
    hit = musique_engine.search(["Bubye River Limpopo"], k=1)[0][0]
    full = musique_engine.fetch(hit.id).text
    pieces, offset = [], 0
    while offset is not None:
        page = client.post("/fetch", json={"id": hit.id, "offset": offset, "max_chars": 100}).json()
        assert page["total_chars"] == len(full)
        assert page["title"] == "Bubye River"
        assert len(page["text"]) <= 100
        pieces.append(page["text"])
        offset = page["next_offset"]
    assert "".join(pieces) == full
    assert len(pieces) == -(-len(full) // 100)


def test_fetch_default_page_is_the_whole_short_document(
    client: httpx.Client, musique_engine: SearchEngine
) -> None:
    hit = musique_engine.search(["Bubye River Limpopo"], k=1)[0][0]
    page = client.post("/fetch", json={"id": hit.id}).json()
    assert page["offset"] == 0 and page["next_offset"] is None
    assert page["text"] == musique_engine.fetch(hit.id).text


def test_retrieve_speaks_search_r1(client: httpx.Client, musique_engine: SearchEngine) -> None:
    queries = ["Bubye River", "Journal of Mathematical Physics"]
    scored = client.post(
        "/retrieve", json={"queries": queries, "topk": 2, "return_scores": True}
    ).json()
    assert list(scored) == ["result"]
    assert len(scored["result"]) == 2 and len(scored["result"][0]) == 2
    first = scored["result"][0][0]
    assert set(first) == {"document", "score"}
    assert set(first["document"]) == {"id", "contents"}
    assert first["document"]["contents"].startswith('"Bubye River"\nThe Bubye River')
    assert first["score"] == pytest.approx(musique_engine.search(queries, k=2)[0][0].score)
    plain = client.post("/retrieve", json={"queries": queries, "topk": 2}).json()
    assert plain["result"][0][0] == first["document"]
    default = client.post("/retrieve", json={"queries": queries}).json()
    assert len(default["result"][0]) == 3
    authors = {"queries": queries, "topk_retrieval": 5, "topk_rerank": 2, "return_scores": True}
    assert client.post("/retrieve", json=authors).json() == scored
    wide = client.post("/retrieve", json={"queries": queries, "topk_retrieval": 4}).json()
    assert len(wide["result"][0]) == 4
    refused = client.post("/retrieve", json={"queries": queries, "topk_rerank": 0})
    assert refused.status_code == 400 and "topk_rerank" in refused.json()["error"]


@pytest.mark.parametrize(
    ("path", "payload", "status", "fragment"),
    [
        ("/search", {"queries": []}, 400, "no query given"),
        ("/search", {"queries": "one string"}, 422, "queries: Input should be a valid list"),
        ("/search", {"queries": [1, 2]}, 422, "queries.0"),
        ("/search", {"queries": ["ok", "  "]}, 400, "query 1 is empty"),
        ("/search", {"queries": ["q"] * 301}, 400, "301 queries in one request; the limit is 300"),
        ("/search", {"queries": ["x" * 601]}, 400, "query 0 is 601 characters long"),
        ("/search", {"queries": ["ok"], "k": 0}, 400, "'k' must be an integer from 1 to 100"),
        ("/search", {"queries": ["ok"], "k": 101}, 400, "'k' must be an integer from 1 to 100"),
        ("/search", {"queries": ["ok"], "k": "5"}, 422, "k: Input should be a valid integer"),
        ("/search", {"queries": ["ok"], "k": True}, 422, "k: Input should be a valid integer"),
        ("/search", {"queries": ["ok"], "k": 5.0}, 422, "k: Input should be a valid integer"),
        ("/search", {"queries": ["ok"], "top": 3}, 422, "top: Extra inputs are not permitted"),
        ("/search", {}, 422, "queries: Field required"),
        ("/retrieve", {"queries": ["ok"], "topk": 0}, 400, "topk must be from 1 to 100"),
        ("/retrieve", {"queries": []}, 400, "no query given"),
        ("/fetch", {"id": "no-such-id"}, 404, "'no-such-id' is not the id or url"),
        ("/fetch", {"id": "/etc/passwd"}, 404, "fetch only reads documents returned by search"),
        ("/fetch", {"id": "file:///etc/passwd"}, 404, "not the id or url"),
        ("/fetch", {"id": "http://127.0.0.1:1/secret"}, 404, "not the id or url"),
        ("/fetch", {"id": ""}, 400, "'id' must not be empty"),
        ("/fetch", {"id": 12}, 422, "id: Input should be a valid string"),
        ("/fetch", {"id": "x", "offset": True}, 422, "offset: Input should be a valid integer"),
        ("/retrieve", {"queries": ["ok"], "topk": "3"}, 422, "topk: Input should be a valid"),
        ("/fetch", {"id": "x", "max_chars": 50_001}, 400, "max_chars must be from 1 to 50000"),
        ("/fetch", {"offset": 3}, 422, "id: Field required"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    client: httpx.Client, path: str, payload: object, status: int, fragment: str
) -> None:
    assert_error(client.post(path, json=payload), status, fragment)


def test_fetch_offset_outside_the_document_is_refused(
    client: httpx.Client, musique_engine: SearchEngine
) -> None:
    hit = musique_engine.search(["Bubye River Limpopo"], k=1)[0][0]
    assert_error(client.post("/fetch", json={"id": hit.id, "offset": 10**6}), 400, "past the end")
    assert_error(client.post("/fetch", json={"id": hit.id, "offset": -1}), 400, "0 or more")


def test_malformed_json_is_a_422_naming_the_problem(client: httpx.Client) -> None:
    response = client.post(
        "/search", content=b'{"queries": [', headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "malformed JSON at character")


def test_oversized_bodies_are_refused_with_413(client: httpx.Client) -> None:
    response = client.post("/search", json={"queries": ["word " * 60_000]})
    assert_error(response, 413, "request body over 300000 bytes")

    def chunks() -> Iterator[bytes]:
        yield b'{"queries": ["'
        for _ in range(40):
            yield b"a" * 10_000
        yield b'"]}'

    streamed = client.post(
        "/search", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(streamed, 413, "request body over")


def test_unknown_paths_and_methods_are_4xx(client: httpx.Client) -> None:
    assert client.get("/nothing").status_code == 404
    assert client.get("/search").status_code == 405


def test_health_answers_while_large_batches_run(
    client: httpx.Client, server: str, musique_records: list[dict]
) -> None:
    questions = [r["question"] for r in musique_records]
    long_queries = [" ".join(questions[i % 94 : i % 94 + 6])[:590] for i in range(300)]
    finished: list[tuple[int, float]] = []

    def big_batch() -> None:
        with httpx.Client(base_url=server, timeout=120) as own:
            response = own.post("/search", json={"queries": long_queries, "k": 100})
        finished.append((response.status_code, time.monotonic()))

    threads = [threading.Thread(target=big_batch) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    health = client.get("/health")
    health_done = time.monotonic()
    for thread in threads:
        thread.join()
    assert health.status_code == 200
    assert [status for status, _ in finished] == [200] * 4
    assert health_done < max(done for _, done in finished)


def test_many_parallel_requests_get_their_own_results(
    server: str, musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    questions = [r["question"] for r in musique_records[:64]]
    expected = {
        q: [h.id for h in hits]
        for q, hits in zip(questions, musique_engine.search(questions, k=5), strict=True)
    }

    async def ask_all() -> list[tuple[str, list[str]]]:
        async with httpx.AsyncClient(base_url=server, timeout=120) as http:

            async def ask(question: str) -> tuple[str, list[str]]:
                body = (await http.post("/search", json={"queries": [question], "k": 5})).json()
                return question, [hit["id"] for hit in body["results"][0]]

            return await asyncio.gather(*(ask(q) for q in questions * 2))

    answers = asyncio.run(ask_all())
    assert len(answers) == 128
    assert all(ids == expected[q] for q, ids in answers)


def test_api_key_guards_everything_but_health(musique_index_dir: Path) -> None:
    key = "s3cret-" + os.urandom(4).hex()
    with running_server(musique_index_dir, environment={"NANOSEARCH_API_KEY": key}) as base:
        payload = {"queries": ["Bubye River"], "k": 1}
        assert httpx.get(f"{base}/health").status_code == 200
        assert httpx.get(f"{base}/info").status_code == 401
        assert not process_ids(lambda arguments: any(key.encode() in a for a in arguments))
        missing = httpx.post(f"{base}/search", json=payload)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = httpx.post(f"{base}/search", json=payload, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = httpx.post(
            f"{base}/search", json=payload, headers={"Authorization": f"Bearer {key}"}
        )
        assert right.status_code == 200
        assert httpx.post(f"{base}/mcp", json={}).status_code == 401


def test_several_workers_serve_the_same_index(musique_index_dir: Path) -> None:
    with running_server(musique_index_dir, "--workers", "2") as base:
        bodies = [
            httpx.post(f"{base}/search", json={"queries": ["Bubye River"], "k": 1}).json()
            for _ in range(6)
        ]
        assert all(body == bodies[0] for body in bodies)
        assert bodies[0]["results"][0][0]["title"] == "Bubye River"


def test_a_server_on_a_missing_index_fails_at_start_with_the_reason(tmp_path: Path) -> None:
    from nanosearch.errors import NanosearchError

    with (
        pytest.raises(NanosearchError, match="exited at start: error: index not found"),
        running_server(tmp_path / "absent"),
    ):
        pass


GUARDS = ("--header-seconds", "2", "--body-seconds", "1", "--max-connections", "6")


@pytest.fixture(scope="module")
def guarded(musique_index_dir: Path) -> Iterator[tuple[str, int]]:
    """A server with short header and body deadlines and few connections."""
    with running_server(musique_index_dir, *LIMITS, *GUARDS) as base:
        yield base, int(base.rsplit(":", 1)[1])


def raw_exchange(port: int, data: bytes, wait: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(data)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
        return reply


def test_a_small_declared_length_does_not_let_a_large_body_in(guarded: tuple[str, int]) -> None:
    """A chunked body of 400,000 bytes sent with ``Content-Length: 5`` is counted as it
    arrives: refused, never handed to the application whole."""
    head = (
        b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    chunk = b"a" * 10_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(40)) + b"0\r\n\r\n"
    status = raw_exchange(guarded[1], head + body).split(b"\r\n", 1)[0]
    assert status.split()[1] == b"413", status


def test_half_sent_requests_are_closed_after_the_header_deadline(
    guarded: tuple[str, int],
) -> None:
    base, port = guarded
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
    for connection in held:
        connection.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-")
    began = time.monotonic()
    closed = [connection.recv(1024) == b"" for connection in held]
    elapsed = time.monotonic() - began
    for connection in held:
        connection.close()
    assert all(closed) and elapsed < 8, (closed, elapsed)
    assert httpx.get(f"{base}/health", timeout=10).status_code == 200


def test_a_body_that_stops_arriving_is_a_408(guarded: tuple[str, int]) -> None:
    head = b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    reply = raw_exchange(guarded[1], head + b'Content-Length: 100\r\n\r\n{"queries": [')
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"stopped arriving" in reply


def test_connections_over_the_cap_are_answered_503(guarded: tuple[str, int]) -> None:
    base, port = guarded
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(6)]
    try:
        for connection in held:
            connection.sendall(b"GET /health HTTP/1.1\r\nHo")
        time.sleep(0.3)
        assert httpx.get(f"{base}/health", timeout=10).status_code == 503
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.3)
    assert httpx.get(f"{base}/health", timeout=10).status_code == 200
