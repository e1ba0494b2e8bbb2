"""The harness's parts that need no model server: hermes tool-call parsing, cut stop tags,
torn JSONL repair, option checks, the in-process endpoint and the report."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanosearch.errors import NanosearchError
from nanosearch.eval.agreement import agreement, cohen_kappa, labelled_cases
from nanosearch.eval.chat_client import close_cut_tag
from nanosearch.eval.cli_run import EvalOptions
from nanosearch.eval.grading import grade_offline
from nanosearch.eval.report import PUBLISHED, write_report
from nanosearch.eval.results import JsonlLog
from nanosearch.protocol.hermes import parse_hermes


def test_hermes_blocks_become_tool_calls_and_the_text_before_them_content() -> None:
    call = '{"name": "web_search", "arguments": {"query": "x"}}'
    text = f"Let me look.\n<tool_call>\n{call}\n</tool_call>"
    content, calls = parse_hermes(text)
    assert content == "Let me look."
    assert [(c.name, c.arguments) for c in calls] == [("web_search", {"query": "x"})]


def test_a_broken_hermes_block_leaves_the_whole_text_as_content() -> None:
    text = '<tool_call>{"name": "web_search", "arguments": {"query": </tool_call>'
    assert parse_hermes(text) == (text, [])


NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=8)
CALLS = st.builds(
    lambda name, query: (
        f'<tool_call>{{"name": "{name}", "arguments": {{"query": {query}}}}}</tool_call>'
    ),
    NAMES,
    st.text(max_size=20).map(json.dumps),
)


@given(st.text(max_size=200), st.lists(CALLS, max_size=3), st.text(max_size=50))
def test_hermes_parser_never_raises_and_loses_no_text(
    before: str, blocks: list[str], after: str
) -> None:
    text = before + "".join(blocks) + after
    content, calls = parse_hermes(text)
    if calls:
        assert content == text[: text.index("<tool_call>")].strip()
        assert all(set(c.arguments) == {"query"} for c in calls)
    else:
        assert content == text


@pytest.mark.parametrize(
    ("cut", "closed"),
    [
        ('<tool>{"name": "fetch"}', '<tool>{"name": "fetch"}</tool>'),
        ("<answer>Paris", "<answer>Paris</answer>"),
        ('<tool_call>{"a": 1}\n', '<tool_call>{"a": 1}</tool_call>'),
        ("<answer>Paris</answer>", "<answer>Paris</answer>"),
        ("no tags", "no tags"),
    ],
)
def test_the_tag_a_stop_string_cut_is_closed_again(cut: str, closed: str) -> None:
    assert close_cut_tag(cut) == closed


def test_a_torn_last_line_is_cut_and_complete_rows_kept(tmp_path: Path) -> None:
    log = JsonlLog(tmp_path / "results.jsonl")
    log.append({"id": "a"})
    log.append({"id": "b"})
    with log.path.open("a") as stream:
        stream.write('{"id": "c", "pred')
    assert [row["id"] for row in log.read()] == ["a", "b"]
    log.append({"id": "c"})
    assert [row["id"] for row in log.read()] == ["a", "b", "c"]


def test_a_broken_line_in_the_middle_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(NanosearchError, match="line 2 is not JSON"):
        JsonlLog(path).read()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"agent": "reflexion"}, "--agent must be one of native, react, codeagent"),
        ({"model": None}, "give --model"),
        ({"index": None}, "give one of --index DIR"),
        ({"mcp": "http://127.0.0.1:1/mcp"}, "give one of --index DIR"),
        ({"backend": "serper"}, "give one of --index DIR"),
        ({"backend": "bing"}, "--backend must be one of local, serper, searxng, brave, tavily"),
        ({"backend_url": "http://x"}, "--backend-url is for a web backend"),
        ({"judge_template": Path("grader.txt")}, "--judge-template is for --grader llm"),
        ({"task": "qa", "topic": ["Art"]}, "--topic and --answer-type filter SimpleQA"),
        ({"thinking": "maybe"}, "--thinking must be on, off or auto"),
        ({"grader": "llm"}, "--grader llm needs --judge-base-url and --judge-model"),
        ({"max_turns": 0}, "--max-turns must be at least 1"),
        ({"concurrency": 0}, "--concurrency must be at least 1"),
    ],
)
def test_bad_options_are_named_before_any_work(
    changes: dict, message: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    options = EvalOptions(out=tmp_path, model="m", index=musique_index_dir)
    for key, value in changes.items():
        setattr(options, key, value)
    with pytest.raises(NanosearchError, match=message):
        options.check()


@pytest.mark.parametrize(
    ("changes", "in_flight"),
    [
        ({}, 16),  # an in-process model: as many as it generates in one batch
        ({"base_url": "http://127.0.0.1:1/v1"}, 4),
        ({"concurrency": 2}, 2),
        ({"concurrency": 32, "base_url": "http://127.0.0.1:1/v1"}, 32),
    ],
)
def test_questions_in_flight_default_to_what_the_model_batches(
    changes: dict, in_flight: int, tmp_path: Path
) -> None:
    options = EvalOptions(out=tmp_path, model="m", **changes)
    assert options.questions_in_flight() == in_flight


def test_an_index_directory_without_an_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NanosearchError, match="no index at"):
        EvalOptions(out=tmp_path, model="m", index=tmp_path).check()


def test_offline_grader_agrees_with_every_label_and_kappa_measures_chance() -> None:
    cases = labelled_cases()
    result = agreement({"offline": lambda p, a, x: grade_offline(x, a)}, cases)
    assert result["with_labels"]["offline"]["agree"] == len(cases) == 40
    assert cohen_kappa(["correct", "incorrect"] * 5, ["correct", "incorrect"] * 5) == 1.0
    assert cohen_kappa(["correct"] * 2 + ["incorrect"] * 2, ["correct", "incorrect"] * 2) == 0.0


CALL = {"name": "web_search", "arguments": {"query": "q"}}


def sample_run(directory: Path, grades: list[str]) -> Path:
    directory.mkdir(parents=True)
    (directory / "run.json").write_text(
        json.dumps({"agent": "native", "model": "tiny", "thinking": False, "grader": "offline"})
    )
    log = JsonlLog(directory / "results.jsonl")
    for i, grade in enumerate(grades):
        log.append(
            {
                "id": f"simpleqa-{i}",
                "problem": f"Question <{i}>?",
                "answer": "Paris",
                "prediction": "Lyon" if grade == "incorrect" else "Paris",
                "grade": grade,
                "grader": "offline",
                "topic": "Geography",
                "answer_type": "Place",
                "tool_calls": 1,
                "turns": 2,
                "tokens": 300,
                "latency_s": 1.5,
                "trajectory": [
                    {
                        "type": "model",
                        "content": "<tool>…</tool>",
                        "tool_calls": [{"name": "web_search", "arguments": {"query": "q"}}],
                    },
                    {
                        "type": "tool",
                        "name": "web_search",
                        "arguments": {"query": "q"},
                        "ok": True,
                        "content": "Results for <q>",
                    },
                ],
            }
        )
    return directory


def test_report_marks_published_rows_and_the_grader(tmp_path: Path) -> None:
    run = sample_run(tmp_path / "tiny-native", ["correct", "incorrect", "not_attempted"])
    md, page, chart = write_report([run], tmp_path / "out")
    text = md.read_text()
    assert "| tiny-native | native | tiny | off | offline rule grader | 3 | 1 | 1 | 1 |" in text
    assert "33.3 [" in text and "Published figures (not measured here)" in text
    assert all(f"| {name} | {value:.1f} |" in text for name, value in PUBLISHED)
    html = page.read_text()
    assert html.count("<details>") == 3 and "Question &lt;0&gt;?" in html
    assert "Results for &lt;q&gt;" in html and html.count('class="published"') == len(PUBLISHED)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_a_directory_without_results_says_so(tmp_path: Path) -> None:
    with pytest.raises(NanosearchError, match="has no results.jsonl"):
        write_report([tmp_path], tmp_path / "out")


@pytest.fixture(scope="module")
def local_endpoint(tiny_qwen3_dir: Path):
    from nanosearch.eval.local_server import serve_local_model

    with serve_local_model(str(tiny_qwen3_dir), max_tokens=8) as base:
        yield base


def test_in_process_model_answers_openai_chat_requests(local_endpoint: str) -> None:
    body = {
        "model": "local",
        "messages": [{"role": "user", "content": "Where is the Bubye River?"}],
        "tools": [{"type": "function", "function": {"name": "web_search", "parameters": {}}}],
        "max_tokens": 5,
        "temperature": 0,
        "chat_template_kwargs": {"enable_thinking": False},
    }
    reply = httpx.post(f"{local_endpoint}/chat/completions", json=body, timeout=120).json()
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in ("length", "stop", "tool_calls")
    assert reply["usage"]["completion_tokens"] <= 5 and reply["usage"]["prompt_tokens"] > 10
    assert httpx.get(f"{local_endpoint}/models").json()["data"][0]["id"] == "local"


def test_in_process_model_refuses_a_prompt_beyond_its_context(local_endpoint: str) -> None:
    body = {"messages": [{"role": "user", "content": "word " * 40_000}], "max_tokens": 2}
    reply = httpx.post(f"{local_endpoint}/chat/completions", json=body, timeout=120)
    assert reply.status_code == 400
    assert "the model's context is 32768" in reply.json()["error"]["message"]
    bad = httpx.post(f"{local_endpoint}/chat/completions", json={"messages": []}, timeout=30)
    assert bad.status_code == 422


@pytest.fixture(scope="module")
def local_model(tiny_qwen3_dir: Path):
    from nanosearch.eval.local_server import LocalChatModel

    return LocalChatModel.load(str(tiny_qwen3_dir), max_tokens=8)


def _queued_while_busy(model: Any, requests: list[Any]) -> list[Any]:
    """Send ``requests`` at once while the model is busy, then let the busy generator's next
    rounds take them: what happens when turns arrive during a generation. Every reply, in
    order (an exception where a request failed)."""
    import time

    replies: list[Any] = [None] * len(requests)

    def send(index: int) -> None:
        try:
            replies[index] = model.complete(requests[index])
        except Exception as error:
            replies[index] = error

    model._generating = True
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(model._pending) < len(requests):
        assert time.monotonic() < deadline, "the requests never queued"
        time.sleep(0.01)
    model._generate_queued()
    for thread in threads:
        thread.join(60)
    assert not model._generating and not model._pending
    return replies


def test_turns_that_arrive_together_are_one_batch_and_each_reply_is_its_own_alone(
    local_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanosearch.eval.local_server import ChatRequest

    questions = ["Where is the Bubye River?", "Who founded Harare?", "Name a river", "Why?"]
    requests = [
        ChatRequest(
            messages=[{"role": "user", "content": question}],
            temperature=0,
            max_tokens=4 + index,
            chat_template_kwargs={"enable_thinking": False},
        )
        for index, question in enumerate(questions)
    ]
    sampled = ChatRequest(messages=[{"role": "user", "content": "Hi"}], temperature=1.0)
    alone = [local_model.complete(request) for request in requests]
    batches: list[int] = []
    generate = local_model._generate
    monkeypatch.setattr(
        local_model, "_generate", lambda batch: batches.append(len(batch)) or generate(batch)
    )
    together = _queued_while_busy(local_model, [*requests, sampled])
    assert batches == [4, 1]  # the greedy turns together; the sampled one has its own settings
    for reply, single, request in zip(together, alone, requests, strict=False):
        assert reply["choices"][0]["message"] == single["choices"][0]["message"]
        assert reply["usage"] == single["usage"]
        assert reply["usage"]["completion_tokens"] <= request.max_tokens


def test_a_failed_batch_fails_each_of_its_requests_and_the_next_batch_runs(
    local_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanosearch.eval.local_server import ChatRequest

    def broken(batch: list[Any]) -> list[list[int]]:
        raise RuntimeError(f"device-side assert in a batch of {len(batch)}")

    monkeypatch.setattr(local_model, "_generate", broken)
    request = ChatRequest(messages=[{"role": "user", "content": "Hi"}], temperature=0)
    replies = _queued_while_busy(local_model, [request, request, request])
    assert [str(reply) for reply in replies] == ["device-side assert in a batch of 3"] * 3
    monkeypatch.undo()
    assert local_model.complete(request)["choices"][0]["message"]["role"] == "assistant"


def test_a_batch_out_of_memory_is_generated_in_halves_with_the_same_replies(
    local_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanosearch.eval.local_server import ChatRequest

    requests = [
        ChatRequest(messages=[{"role": "user", "content": f"Question {i}?"}], temperature=0)
        for i in range(5)
    ]
    alone = [local_model.complete(request) for request in requests]
    batches: list[int] = []
    generate = local_model._generate

    def small_memory(batch: list[Any]) -> list[list[int]]:
        batches.append(len(batch))
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return generate(batch)

    monkeypatch.setattr(local_model, "_generate", small_memory)
    together = _queued_while_busy(local_model, requests)
    assert batches == [5, 2, 3, 1, 2]
    assert [r["choices"][0]["message"] for r in together] == [
        r["choices"][0]["message"] for r in alone
    ]


def test_an_in_process_model_is_evaluated_over_mcp_stdio_and_resumed(
    tiny_qwen3_dir: Path, musique_index_dir: Path, tmp_path: Path
) -> None:
    """The embedded default end to end: a checkpoint loaded here behind the loopback endpoint,
    the native runtime, our MCP server over stdio, the offline grader, then the report."""
    from nanosearch.eval.cli_run import EvalOptions, run_from_options
    from nanosearch.eval.report import write_report

    def evaluate() -> None:
        options = EvalOptions(
            out=tmp_path / "eval",
            model=str(tiny_qwen3_dir),
            index=musique_index_dir,
            limit=2,
            max_turns=3,
            max_tokens=64,
            concurrency=1,
            resume=True,
            progress=False,
        )
        list(run_from_options(options))

    evaluate()
    rows = JsonlLog(tmp_path / "eval" / "results.jsonl").read()
    assert sorted(r["id"] for r in rows) == ["simpleqa-0", "simpleqa-1"]
    assert all(r["grader"] == "offline" and r["turns"] >= 1 for r in rows)
    assert json.loads((tmp_path / "eval" / "run.json").read_text())["model"] == str(tiny_qwen3_dir)
    write_report([tmp_path / "eval"], tmp_path / "eval")
    assert (tmp_path / "eval" / "report.html").exists()
    evaluate()  # resumes
    assert len(JsonlLog(tmp_path / "eval" / "results.jsonl").read()) == 2


@pytest.mark.parametrize(
    "text",
    [
        "<tool_call>" + "[" * 5000 + "</tool_call>",
        '<tool_call>{"name": "web_search", "arguments": {"k": ' + "9" * 5000 + "}}</tool_call>",
        "<tool_call>{" * 16_000,
        "x" * 300_000 + '<tool_call>{"name": "f", "arguments": {}}</tool_call>',
    ],
    ids=["deep-nesting", "huge-integer", "unclosed-blocks", "over-the-cap"],
)
def test_hostile_hermes_text_is_content_not_an_error(text: str) -> None:
    assert parse_hermes(text) == (text, [])


def test_qa_benchmarks_run_against_their_corpora_resume_and_report(
    tiny_qwen3_dir: Path, musique_index_dir: Path, tmp_path: Path
) -> None:
    """The bundled NQ items against the Wikipedia passages they come with, and the MuSiQue
    sample against its paragraphs, each through an in-process checkpoint, the native runtime
    and our MCP server over stdio; then a resumed run and the report with Search-R1's rows."""
    from typer.testing import CliRunner

    from nanosearch.assets import MUSIQUE_SAMPLE, NQ_SAMPLE, WIKI_PASSAGES
    from nanosearch.cli import app
    from nanosearch.corpus import read_corpus
    from nanosearch.eval.cli_run import run_from_options
    from nanosearch.eval.report import PUBLISHED_QA
    from nanosearch.search import build_index

    wiki = tmp_path / "wiki-index"
    build_index(read_corpus(WIKI_PASSAGES, progress=False), wiki, progress=False)

    def run(out: Path, index: Path, data: list[str], resume: bool = False) -> list[str]:
        options = EvalOptions(
            resume=resume,
            out=out,
            task="qa",
            data=data,
            model=str(tiny_qwen3_dir),
            index=index,
            limit=2,
            max_turns=2,
            max_tokens=8,
            temperature=0.0,
            concurrency=1,
            progress=False,
        )
        return list(run_from_options(options))

    run(tmp_path / "nq", wiki, [str(NQ_SAMPLE)])
    command = ["eval", "qa", "--out", str(tmp_path / "musique"), "--model", str(tiny_qwen3_dir)]
    command += ["--index", str(musique_index_dir), "--data", f"musique={MUSIQUE_SAMPLE}"]
    command += ["--limit", "2", "--max-turns", "2", "--max-tokens", "8", "--temperature", "0"]
    result = CliRunner().invoke(app, [*command, "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    assert "musique" in result.output
    nq_rows = JsonlLog(tmp_path / "nq" / "results.jsonl").read()
    assert [r["id"] for r in nq_rows] == [
        "flashrag_nq_test_17/test_0",
        "flashrag_nq_test_17/test_1",
    ]
    assert nq_rows[0]["answer"] == "Wilhelm Conrad Röntgen" and nq_rows[0]["turns"] >= 1
    summary = json.loads((tmp_path / "musique" / "summary.json").read_text())
    assert set(summary["by_dataset"]) == {"musique"}
    assert set(summary["by_dataset"]["musique"]["qa"]) == {"questions", "em", "cover_em", "f1"}
    assert summary["qa"]["questions"] == 2
    run_info = json.loads((tmp_path / "musique" / "run.json").read_text())
    assert run_info["dataset"]["task"] == "qa" and run_info["dataset"]["sets"] == {"musique": 2}

    run(tmp_path / "nq", wiki, [str(NQ_SAMPLE)], resume=True)  # nothing is asked again
    assert len(JsonlLog(tmp_path / "nq" / "results.jsonl").read()) == 2
    assert len(JsonlLog(tmp_path / "nq" / "answers.jsonl").read()) == 2

    md, page, _ = write_report([tmp_path / "nq", tmp_path / "musique"], tmp_path / "report")
    text = md.read_text()
    assert "## QA benchmarks" in text and "| musique | musique | 2 |" in text
    assert "| nq | flashrag_nq_test_17 | 2 |" in text
    assert (
        "Search-R1, Qwen2.5-7B-Base | 48.0 | 63.8 | 45.7 | 43.3 | 38.2 | 19.6 | 43.2 | 43.1 |"
        in text
    )
    assert page.read_text().count("Search-R1, Qwen2.5-") == len(PUBLISHED_QA)


def test_qa_sets_are_named_prefixed_and_scored(tmp_path: Path) -> None:
    from nanosearch.data.qa import load_qa_sets
    from nanosearch.eval.metrics import qa_scores

    path = tmp_path / "hotpot.jsonl"
    path.write_text(
        '{"id": "a", "question": "Who?", "golden_answers": ["Ada Lovelace", "Lovelace"]}\n'
        '{"id": "b", "question": "When?", "golden_answers": ["1843"]}\n'
    )
    rows = load_qa_sets([str(path), f"again={path}"])
    assert [r["id"] for r in rows] == ["hotpot/a", "hotpot/b", "again/a", "again/b"]
    assert rows[0]["answer_aliases"] == ["Lovelace"] and rows[3]["dataset"] == "again"
    with pytest.raises(NanosearchError, match="two data sets are named 'hotpot'"):
        load_qa_sets([str(path), str(path)])
    with pytest.raises(NanosearchError, match="cannot load dataset|needs `datasets`"):
        load_qa_sets(["no-such-owner/no-such-set:nq"])
    scored = [
        {**rows[0], "prediction": "It was Lovelace, the countess"},
        {**rows[1], "prediction": "1843"},
        {**rows[2], "prediction": None},
    ]
    scores = qa_scores(scored)
    assert scores["questions"] == 3
    assert scores["em"] == pytest.approx(1 / 3) and scores["cover_em"] == pytest.approx(2 / 3)
    assert 1 / 3 < scores["f1"] < 2 / 3


def test_report_of_other_questions_is_titled_by_them_without_simpleqa_figures(
    tmp_path: Path,
) -> None:
    run = sample_run(tmp_path / "world-base", ["correct", "incorrect"])
    info = json.loads((run / "run.json").read_text())
    info["dataset"] = {"source": "test.jsonl", "questions": 2}
    (run / "run.json").write_text(json.dumps(info))
    md, page, _ = write_report([run], tmp_path / "out")
    text = md.read_text()
    assert text.startswith("# Evaluation report: test.jsonl")
    assert "Published figures" not in text and "83.2" not in text and "By topic" not in text
    assert "| EM % |" in text and "| 0.500 | 50.0 | 1.00 |" in text  # F1, then exact match
    html = page.read_text()
    assert "<h1>Evaluation report: test.jsonl</h1>" in html and 'class="published"' not in html
    simpleqa = sample_run(tmp_path / "simpleqa", ["correct"])
    md, _, _ = write_report([run, simpleqa], tmp_path / "both")
    text = md.read_text()
    assert text.startswith("# Evaluation report: SimpleQA; test.jsonl")
    assert "Published figures (not measured here)" in text and "**simpleqa**" in text
    assert "**world-base**" not in text


def test_a_qa_run_of_other_sets_is_shown_without_search_r1s_figures(tmp_path: Path) -> None:
    run = sample_run(tmp_path / "world", ["correct", "incorrect"])
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    (run / "results.jsonl").write_text(
        "".join(json.dumps({**row, "dataset": "world-test"}) + "\n" for row in rows)
    )
    info = json.loads((run / "run.json").read_text())
    info["dataset"] = {"task": "qa", "sets": {"world-test": 2}, "questions": 2}
    (run / "run.json").write_text(json.dumps(info))
    md, page, _ = write_report([run], tmp_path / "out")
    text = md.read_text()
    assert text.startswith("# Evaluation report: world-test")
    assert "| world | world-test | 2 | 50.0 |" in text and "Published" not in text
    assert "Search-R1" not in page.read_text() and 'class="published"' not in page.read_text()


@pytest.fixture
def reasoning_endpoint() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback server answering as vLLM does behind ``--reasoning-parser qwen3``: the think
    block apart from the content. A stand-in, because no model here writes a think block (the
    tiny random ones write noise), so a real vLLM would never split one."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            field = "reasoning_content" if len(received) == 1 else "reasoning"
            message = {
                "role": "assistant",
                "content": "\n\n<answer>Zimbabwe",
                field: "\nIt is the Bubye.\n",
            }
            body = json.dumps(
                {"choices": [{"message": message, "finish_reason": "stop"}], "usage": {}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_think_block_handed_back_apart_stays_in_the_turn_and_is_sent_back(
    reasoning_endpoint: tuple[str, list[dict[str, Any]]],
) -> None:
    from nanosearch.env import GenerationRequest
    from nanosearch.eval.chat_client import ChatPolicy, ChatSettings

    base, received = reasoning_endpoint
    policy = ChatPolicy(ChatSettings(base, "m", thinking=True, retries=0))
    question = ({"role": "system", "content": "s"}, {"role": "user", "content": "q"})
    (first,) = policy.generate([GenerationRequest(0, 0, [], 64, question)])
    written = "<think>\nIt is the Bubye.\n</think>\n\n<answer>Zimbabwe</answer>"
    assert first.text == written
    episode = (*question, {"role": "assistant", "content": first.text})
    (second,) = policy.generate(
        [GenerationRequest(0, 1, [], 64, (*episode, {"role": "user", "content": "r"}))]
    )
    assert second.text == written  # vLLM's newer field name, `reasoning`, alike
    assert received[1]["messages"][2] == {"role": "assistant", "content": written}
    assert received[1]["chat_template_kwargs"] == {"enable_thinking": True}
    policy.close()
