"""The reliability suite: what the hardening report found must not come back.

Real servers on loopback take malformed HTTP and MCP requests and must answer each with a 4xx
(never a 5xx), or over stdio with a JSON-RPC error carrying the id, and still answer correctly
afterwards; both parsers take 10^5 generated model outputs and adversarial ones of up to 1 MB
without raising, in linear time; an index build and an evaluation killed at random points lose
and repeat nothing when re-run; a server started for a process ends with it, even when it is
killed. (Training killed during its checkpoint saves is
``test_training_killed_during_checkpoint_saves_loses_and_repeats_no_step`` in ``test_train.py``,
beside the other tests that run the trainer.)"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nanosearch.assets import MUSIQUE_SAMPLE
from nanosearch.files import replace_directory, restore_directory
from nanosearch.protocol import parse_turn
from nanosearch.protocol.hermes import parse_hermes
from nanosearch.protocol.turn import MAX_TURN_CHARS
from nanosearch.search import SearchEngine, load
from nanosearch.server.process import free_port, process_ids, running_server
from tests.malformed import json_values, large_outputs, model_outputs, request_bodies

HTTP_REQUESTS = 500
MCP_REQUESTS = 100
MODEL_OUTPUTS = 100_000
PATHS = ("/search", "/fetch", "/retrieve", "/health", "/info", "/mcp", "/", "/nope")
METHODS = ("POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
RAW_REQUESTS = (
    b"GARBAGE\r\n\r\n",
    b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /health HTTP/9.9\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /search HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    b"\xff\xfe\xfd\r\n\r\n",
)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture(scope="module")
def server(musique_index_dir: Path) -> Iterator[str]:
    with running_server(musique_index_dir, "--max-query-chars", "600") as base:
        yield base


def still_answers(base: str, engine: SearchEngine) -> None:
    response = httpx.post(f"{base}/search", json={"queries": ["Bubye River"], "k": 3}, timeout=30)
    assert response.status_code == 200
    expected = [hit.id for hit in engine.search(["Bubye River"], k=3)[0]]
    assert [hit["id"] for hit in response.json()["results"][0]] == expected


def raw_status(base: str, request: bytes) -> int | None:
    """The status line's code of a raw request's reply, or None if the server closed."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as connection:
        connection.sendall(request)
        try:
            reply = connection.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return None
    parts = reply.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def test_malformed_http_requests_get_4xx_and_the_server_keeps_answering(
    server: str, musique_engine: SearchEngine
) -> None:
    rng = random.Random(0)
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=server, timeout=30) as client:
        for number in range(HTTP_REQUESTS - len(RAW_REQUESTS)):
            headers = {"content-type": rng.choice(["application/json", "text/plain", ""])}
            if number % 7 == 0:
                headers["accept"] = "application/json, text/event-stream"
            response = client.request(
                rng.choice(METHODS), rng.choice(PATHS), content=request_bodies(rng), headers=headers
            )
            statuses[response.status_code] += 1
            our_api = response.request.url.path != "/mcp"  # MCP answers in JSON-RPC's shape
            if response.status_code >= 400 and response.request.method != "HEAD" and our_api:
                body = response.json()
                assert "error" in body, (response.request.url, response.text[:200])
    for request in RAW_REQUESTS:
        status = raw_status(server, request)
        statuses[status if status is not None else 0] += 1
    assert sum(statuses.values()) == HTTP_REQUESTS
    assert not [status for status in statuses if status >= 500], statuses
    assert sum(n for status, n in statuses.items() if 400 <= status < 500) > HTTP_REQUESTS // 2
    still_answers(server, musique_engine)


def test_malformed_mcp_requests_get_errors_not_5xx(
    server: str, musique_engine: SearchEngine
) -> None:
    rng = random.Random(1)
    with httpx.Client(base_url=server, headers=MCP_HEADERS, timeout=30) as client:
        session = open_mcp_session(client)
        statuses: Counter[int] = Counter()
        tool_errors = 0
        for number in range(MCP_REQUESTS):
            if number % 2:
                arguments = json_values(rng)
                call = {
                    "jsonrpc": "2.0",
                    "id": number + 1,
                    "method": "tools/call",
                    "params": {
                        "name": rng.choice(["web_search", "fetch", "browse"]),
                        "arguments": arguments if isinstance(arguments, dict) else {"q": arguments},
                    },
                }
                body = json.dumps(call).encode()
            else:
                body = request_bodies(rng)
            response = client.post("/mcp", content=body, headers=session)
            statuses[response.status_code] += 1
            tool_errors += '"isError":true' in response.text
        good = {
            "jsonrpc": "2.0",
            "id": 10_000,
            "method": "tools/call",
            "params": {"name": "web_search", "arguments": {"query": "Bubye River", "k": 1}},
        }
        answer = client.post("/mcp", json=good, headers=session)
    assert sum(statuses.values()) == MCP_REQUESTS
    assert not [status for status in statuses if status >= 500], statuses
    assert tool_errors > 0
    top = musique_engine.search(["Bubye River"], k=1)[0][0]
    assert answer.status_code == 200 and f"id: {top.id}" in answer.text
    still_answers(server, musique_engine)


DEEP = "[" * 1000 + "]" * 1000
HOSTILE_MCP_BODIES = {
    "nested-params": b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": '
    + DEEP.encode()
    + b"}",
    "nested-arguments": b'{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": '
    b'{"name": "web_search", "arguments": {"query": ' + DEEP.encode() + b"}}}",
    "invalid-utf8": b'{"jsonrpc": "2.0", "id": 3, "method": "tools/list", "x": "\xff\xfe"}',
    "huge-id": b'{"jsonrpc": "2.0", "id": ' + b"7" * 5000 + b', "method": "tools/list"}',
}
SURROGATE_CALL = {
    "jsonrpc": "2.0",
    "id": 42,
    "method": "tools/call",
    "params": {"name": "web_search", "arguments": {"query": "Bubye \ud800 River"}},
}


def rpc_replies(text: str) -> list[dict]:
    """The JSON-RPC messages of a reply, whether plain JSON or server-sent events."""
    lines = [line.removeprefix("data:") for line in text.splitlines() if line.startswith("data:")]
    return [json.loads(line) for line in lines] if lines else [json.loads(text)]


def open_mcp_session(client: httpx.Client) -> dict[str, str]:
    opened = client.post("/mcp", json=INITIALIZE)
    assert opened.status_code == 200
    session = {"mcp-session-id": opened.headers["mcp-session-id"]}
    client.post("/mcp", json=INITIALIZED, headers=session)
    return session


@pytest.mark.parametrize("name", sorted(HOSTILE_MCP_BODIES))
def test_each_request_that_was_a_500_on_mcp_is_a_parse_error(server: str, name: str) -> None:
    with httpx.Client(base_url=server, headers=MCP_HEADERS, timeout=30) as client:
        session = open_mcp_session(client)
        response = client.post("/mcp", content=HOSTILE_MCP_BODIES[name], headers=session)
    assert response.status_code == 400, response.text[:300]
    (reply,) = rpc_replies(response.text)
    assert reply["error"]["code"] == -32700 and reply["error"]["message"].startswith("Parse error")


def test_a_lone_surrogate_in_a_query_gets_a_tool_error_over_http(
    server: str, musique_engine: SearchEngine
) -> None:
    """It once got an empty event stream: the reply could not be encoded, and no id was
    answered."""
    with httpx.Client(base_url=server, headers=MCP_HEADERS, timeout=30) as client:
        session = open_mcp_session(client)
        response = client.post("/mcp", content=json.dumps(SURROGATE_CALL), headers=session)
    assert response.status_code == 200
    (reply,) = rpc_replies(response.text)
    assert reply["id"] == 42 and reply["result"]["isError"] is True
    assert "lone surrogate" in reply["result"]["content"][0]["text"]
    still_answers(server, musique_engine)


def test_every_stdio_request_is_answered_even_one_the_sdk_cannot_read(
    musique_index_dir: Path, musique_engine: SearchEngine
) -> None:
    """Over stdio the SDK dropped a line its parser refused (a lone surrogate) after logging
    an internal error, and the client waited for that id forever."""
    good = {
        "jsonrpc": "2.0",
        "id": 43,
        "method": "tools/call",
        "params": {"name": "web_search", "arguments": {"query": "Bubye River", "k": 1}},
    }
    not_rpc = {"jsonrpc": "2.0", "id": 44, "method": 5}
    lines = [json.dumps(m).encode() for m in (INITIALIZE, INITIALIZED, SURROGATE_CALL, not_rpc)]
    lines += [HOSTILE_MCP_BODIES[name] for name in sorted(HOSTILE_MCP_BODIES)]
    lines += [b"{oops", json.dumps(good).encode()]
    command = [sys.executable, "-m", "nanosearch.cli", "mcp", "--index", str(musique_index_dir)]
    replies: queue.Queue[dict] = queue.Queue()
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        output = process.stdout

        def read() -> None:
            for line in output:
                replies.put(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        process.stdin.write(b"".join(line + b"\n" for line in lines))
        process.stdin.flush()
        received: list[dict] = []
        deadline = time.monotonic() + 120
        while not any(r.get("id") == 43 for r in received) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                received.append(replies.get(timeout=1))
        process.kill()
    answered = {r["id"]: r for r in received if r.get("id") is not None}
    assert answered[42]["result"]["isError"] is True
    assert "'query' holds a lone surrogate" in answered[42]["result"]["content"][0]["text"]
    assert answered[44]["error"]["code"] == -32600
    # No id can be read from invalid UTF-8, the nested or huge-id bodies, or "{oops".
    parse_errors = [r["error"]["code"] for r in received if "id" in r and r["id"] is None]
    assert parse_errors == [-32700] * (len(HOSTILE_MCP_BODIES) + 1)
    top = musique_engine.search(["Bubye River"], k=1)[0][0]
    assert f"id: {top.id}" in answered[43]["result"]["content"][0]["text"]


def test_parsers_never_raise_on_generated_model_outputs() -> None:
    names = {"web_search", "fetch"}
    kinds: Counter[str] = Counter()
    for text in model_outputs(MODEL_OUTPUTS):
        kinds[parse_turn(text, names).kind] += 1
        content, calls = parse_hermes(text)
        assert calls or content == text
    assert sum(kinds.values()) == MODEL_OUTPUTS
    assert set(kinds) == {"tool", "answer", "invalid"}  # the generator reaches every outcome


@pytest.mark.parametrize("size", [MAX_TURN_CHARS, 1_000_000], ids=["at-the-cap", "a-megabyte"])
@pytest.mark.parametrize("shape", sorted(large_outputs(1000)))
def test_parsers_take_each_adversarial_shape_in_linear_time(shape: str, size: int) -> None:
    """At the cap a turn is parsed in full; above it, refused unread. The bound is no speed
    target (benchmarks/parser_fuzz.py measures about 14 ms at the cap): it is some 70 times
    what a linear parse takes, and a quadratic one took 44 s on 160,000 characters."""
    text = large_outputs(size)[shape]
    assert len(text) == size
    started = time.perf_counter()
    assert parse_turn(text, {"web_search"}).kind in ("tool", "answer", "invalid")
    parse_hermes(text)
    assert time.perf_counter() - started < 1.0


def build_command(out: Path) -> list[str]:
    corpus = str(MUSIQUE_SAMPLE)
    return [sys.executable, "-m", "nanosearch.cli", "index", "--corpus", corpus, "--out", str(out)]


def test_index_build_killed_at_random_points_leaves_a_whole_index(tmp_path: Path) -> None:
    out = tmp_path / "index"
    subprocess.run(build_command(out), check=True, capture_output=True, timeout=300)
    expected = [hit.id for hit in load(out).search(["Bubye River"], k=5)[0]]
    started = time.monotonic()
    subprocess.run(build_command(out), check=True, capture_output=True, timeout=300)
    span = time.monotonic() - started
    rng = random.Random(2)
    for _ in range(8):
        process = subprocess.Popen(
            build_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.2, span))
        process.send_signal(signal.SIGKILL)
        process.wait()
        restore_directory(out)  # what the next build does first
        assert [hit.id for hit in load(out).search(["Bubye River"], k=5)[0]] == expected
    subprocess.run(build_command(out), check=True, capture_output=True, timeout=300)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["index"]
    assert [hit.id for hit in load(out).search(["Bubye River"], k=5)[0]] == expected


def test_a_kill_between_the_renames_is_undone(tmp_path: Path) -> None:
    out, staging = tmp_path / "out", tmp_path / "new"
    out.mkdir()
    (out / "old").write_text("old")
    staging.mkdir()
    (staging / "new").write_text("new")
    out.rename(tmp_path / ".out.replaced")  # the first rename happened, then the kill
    restore_directory(out)
    assert (out / "old").read_text() == "old"
    replace_directory(staging, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "new").read_text() == "new"


def test_a_checkpoint_save_killed_at_any_point_resumes_from_the_last_whole_one(
    tmp_path: Path,
) -> None:
    """A Trainer checkpoint is written file by file, its trainer state last. Cut the save of
    ``checkpoint-2`` after every file, and inside each one: resume must pick ``checkpoint-1``
    until the state is whole, and name the half-written one."""
    from nanosearch.train.curriculum import last_complete_checkpoint

    files = {
        "model.safetensors": b"\0" * 64,
        "optimizer.pt": b"\1" * 64,
        "scheduler.pt": b"\2" * 16,
        "rng_state.pth": b"\3" * 16,
        "trainer_state.json": json.dumps({"global_step": 2, "log_history": []}).encode(),
    }
    whole = tmp_path / "checkpoint-1"
    whole.mkdir()
    (whole / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
    cuts = 0
    for position, (name, content) in enumerate(files.items()):
        for kept in sorted({0, 1, len(content) // 2, len(content) - 1, len(content)}):
            partial = tmp_path / "checkpoint-2"
            partial.mkdir(exist_ok=True)
            for earlier, earlier_content in list(files.items())[:position]:
                (partial / earlier).write_bytes(earlier_content)
            (partial / name).write_bytes(content[:kept])
            found, broken = last_complete_checkpoint(tmp_path)
            complete = name == "trainer_state.json" and kept == len(content)
            assert found == (partial if complete else whole), (name, kept)
            assert broken == ([] if complete else [partial]), (name, kept)
            cuts += 1
            for written in partial.iterdir():
                written.unlink()
    assert cuts >= 20


def whole_rows(path: Path) -> list[dict]:
    """The complete lines of a JSONL file (a kill may leave the last one torn)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))
    return rows


def test_an_evaluation_killed_at_random_points_asks_and_grades_each_question_once(
    tiny_qwen3_dir: Path, musique_index_dir: Path, tmp_path: Path
) -> None:
    """The embedded default (a checkpoint run in process, our MCP server over stdio) killed
    with SIGKILL at random moments once it has written results; every re-run with --resume
    keeps every row it had and asks no question twice."""
    questions, kills = 10, 3
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "nanosearch.cli", "eval", "simpleqa", "--out", str(out),
        "--model", str(tiny_qwen3_dir), "--index", str(musique_index_dir),
        "--limit", str(questions), "--max-turns", "2", "--max-tokens", "24",
        "--concurrency", "1", "--resume",
    ]  # fmt: skip
    results, answers = out / "results.jsonl", out / "answers.jsonl"
    rng = random.Random(0)
    kept: list[dict] = []
    for _ in range(kills):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while len(whole_rows(results)) <= len(kept):
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no new result within 5 minutes"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        rows = whole_rows(results)
        assert rows[: len(kept)] == kept, "a kill lost or changed a row written before it"
        kept = rows
    assert len(kept) < questions, "every question was done before the last kill"
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = whole_rows(results)
    assert rows[: len(kept)] == kept
    assert sorted(r["id"] for r in rows) == sorted(f"simpleqa-{i}" for i in range(questions))
    asked = [r["id"] for r in whole_rows(answers)]
    assert len(asked) == len(set(asked)) == questions, "a question was asked twice"


SERVER_OF_A_KILLED_PARENT = """
import sys, time
from nanosearch.server.process import running_process

port = sys.argv[1]
command = [sys.executable, "-m", "http.server", port, "--bind", "127.0.0.1"]
with running_process(command, f"http://127.0.0.1:{port}/", "directory server"):
    print("serving", flush=True)
    time.sleep(600)
"""


def test_a_server_ends_with_the_process_that_started_it_even_when_that_is_killed(
    tmp_path: Path,
) -> None:
    """``kill -9`` runs no cleanup: a test run killed that way used to leave its vLLM server
    running. The server here is Python's own ``http.server``, a real one on loopback."""
    port = str(free_port())

    def serving() -> list[int]:
        return process_ids(
            lambda arguments: b"http.server" in arguments and port.encode() in arguments
        )

    parent = subprocess.Popen(
        [sys.executable, "-c", SERVER_OF_A_KILLED_PARENT, port],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "serving"
        assert serving()
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while serving() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not serving()
    finally:
        parent.kill()
        for pid in serving():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
