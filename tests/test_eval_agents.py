"""The SimpleQA harness end to end: each agent runtime drives a real vLLM server on CPU (hermes
tool parser) and reaches our search engine through a real MCP server (stdio, or streamable
HTTP); rows are graded and written, resume skips what is done, and the report renders.

The served model is a tiny Qwen3-architecture model fitted to call ``web_search`` (see
``tests/agent_model.py``): no pretrained weights can be had here, and a random model would
never call a tool. It never answers correctly, so the tests check the mechanics.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nanosearch.assets import SIMPLEQA_TEST
from nanosearch.data import load_simpleqa
from nanosearch.errors import NanosearchError
from nanosearch.eval.cli_run import EvalOptions, run_from_options
from nanosearch.eval.grading import GRADES
from nanosearch.eval.judge import LLMJudge
from nanosearch.eval.report import write_report
from nanosearch.server.process import free_port, running_server
from tests.agent_model import QUERY, build_tool_calling_model
from tests.conftest import TOKENIZER_DIR
from tests.vllm_server import vllm_server

# Fitting the agent model (first run only) and starting vLLM come before the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
SERVED = "tiny-agent"


MODEL_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "test-models"


@pytest.fixture(scope="session")
def agent_model_dir(musique_index_dir: Path) -> Path:
    """Fitted once per checkout (a few minutes on 2 cores) and kept under ``.cache/``, keyed by
    the fitting code, so later test runs reuse it."""
    source = (Path(__file__).parent / "agent_model.py").read_bytes()
    out = MODEL_CACHE / f"tiny-agent-{hashlib.sha256(source).hexdigest()[:12]}"
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    questions = load_simpleqa(SIMPLEQA_TEST, limit=8)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build_tool_calling_model(TOKENIZER_DIR, partial, musique_index_dir, questions)
    partial.rename(out)
    return out


@pytest.fixture(scope="module")
def vllm(agent_model_dir: Path) -> Iterator[str]:
    options = ("--enable-auto-tool-choice", "--tool-call-parser", "hermes")
    with vllm_server(agent_model_dir, SERVED, *options, max_model_len=8192) as base:
        yield base


def evaluate(out: Path, base_url: str, index: Path | None, **overrides: object) -> list[str]:
    settings: dict[str, object] = {
        "out": out,
        "model": SERVED,
        "base_url": base_url,
        "index": index,
        "limit": 3,
        "max_turns": 2,
        "max_tokens": 96,
        "temperature": 0.0,
        "concurrency": 2,
        "retries": 1,
        "progress": False,
        **overrides,
    }
    return list(run_from_options(EvalOptions(**settings)))  # type: ignore[arg-type]


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_searched_through_mcp(rows: list[dict]) -> None:
    """Every question's trajectory holds a web_search the server answered: the result is the
    server's own rendering of hits from the index."""
    for row in rows:
        assert row["grade"] in GRADES
        assert {"id", "problem", "answer", "prediction", "trajectory"} <= set(row)
        searches = [s for s in row["trajectory"] if s["type"] == "tool"]
        assert searches, row["trajectory"]
        assert row["tool_calls"] == len(searches) >= 1
        for step in searches:
            assert step["name"] == "web_search" and step["ok"], step
            assert step["content"].startswith("Results for") and "id: " in step["content"]
        assert row["tokens"] > 0 and row["latency_s"] > 0


@pytest.mark.parametrize("agent", ["native", "react", "codeagent"])
def test_each_runtime_searches_through_mcp_and_writes_graded_rows(
    agent: str, vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    lines = evaluate(tmp_path / agent, vllm, musique_index_dir, agent=agent)
    rows = rows_of(tmp_path / agent / "results.jsonl")
    assert sorted(r["id"] for r in rows) == ["simpleqa-0", "simpleqa-1", "simpleqa-2"]
    assert_searched_through_mcp(rows)
    assert all(r["agent"] == agent and r["grader"] == "offline" for r in rows)
    summary = json.loads((tmp_path / agent / "summary.json").read_text())
    assert summary["questions"] == 3 and summary["grader"] == "offline"
    assert any(line.startswith("grader: offline") for line in lines)


def test_native_runtime_reads_the_queries_the_model_wrote(
    vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    evaluate(tmp_path / "run", vllm, musique_index_dir, limit=1)
    (row,) = rows_of(tmp_path / "run" / "results.jsonl")
    call = next(s for s in row["trajectory"] if s["type"] == "tool")
    assert call["arguments"] == {"query": QUERY}
    assert row["turns"] == 2 and row["stop"] == "max_turns" and row["grade"] == "not_attempted"


def test_mcp_url_reaches_a_running_server(
    vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    with running_server(musique_index_dir) as base:
        evaluate(tmp_path / "run", vllm, None, mcp=f"{base}/mcp", limit=2)
    assert_searched_through_mcp(rows_of(tmp_path / "run" / "results.jsonl"))


def test_resume_skips_graded_questions_and_never_asks_again(
    vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    evaluate(out, vllm, musique_index_dir, limit=2)
    first = rows_of(out / "results.jsonl")
    with pytest.raises(NanosearchError, match="--resume"):
        evaluate(out, vllm, musique_index_dir, limit=4)
    evaluate(out, vllm, musique_index_dir, limit=4, resume=True)
    rows = rows_of(out / "results.jsonl")
    assert rows[:2] == first
    assert sorted(r["id"] for r in rows) == [f"simpleqa-{i}" for i in range(4)]
    answered = [r["id"] for r in rows_of(out / "answers.jsonl")]
    assert sorted(answered) == sorted(set(answered)) == [f"simpleqa-{i}" for i in range(4)]
    with pytest.raises(NanosearchError, match="agent 'native', not 'react'"):
        evaluate(out, vllm, musique_index_dir, limit=4, resume=True, agent="react")
    with pytest.raises(NanosearchError, match="cannot resume .* limits"):
        evaluate(out, vllm, musique_index_dir, limit=4, resume=True, max_turns=3)
    with pytest.raises(NanosearchError, match="cannot resume .* dataset"):
        evaluate(out, vllm, musique_index_dir, limit=4, resume=True, sample=4, seed=1)


def test_resume_grades_answered_questions_without_the_model(
    vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    """A run killed between answer and grade: the answer is graded on resume, with the model's
    endpoint gone (any call to it would fail)."""
    out = tmp_path / "run"
    evaluate(out, vllm, musique_index_dir, limit=2)
    rows = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text(rows[0] + "\n" + rows[1][:40])  # torn last line
    dead = f"http://127.0.0.1:{free_port()}/v1"
    evaluate(out, dead, musique_index_dir, limit=2, resume=True, retries=0)
    assert sorted(r["id"] for r in rows_of(out / "results.jsonl")) == ["simpleqa-0", "simpleqa-1"]


def test_kill_9_mid_run_then_resume_finishes_every_question_once(
    vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "nanosearch.cli", "eval", "simpleqa", "--out", str(out),
        "--model", SERVED, "--base-url", vllm, "--index", str(musique_index_dir),
        "--limit", "6", "--max-turns", "2", "--max-tokens", "96", "--temperature", "0",
        "--concurrency", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    results = out / "results.jsonl"
    while not (results.exists() and len(results.read_text().splitlines()) >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(rows_of(results))
    assert done_before < 6
    finished = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    rows = rows_of(results)
    assert sorted(r["id"] for r in rows) == sorted({f"simpleqa-{i}" for i in range(6)})
    answered = [r["id"] for r in rows_of(out / "answers.jsonl")]
    assert len(answered) == len(set(answered)) == 6


def test_unreachable_model_endpoint_stops_the_run_with_its_error(
    musique_index_dir: Path, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(NanosearchError, match="cannot reach"):
        evaluate(tmp_path / "run", dead, musique_index_dir, limit=6, retries=0)
    assert not (tmp_path / "run" / "results.jsonl").exists() or not rows_of(
        tmp_path / "run" / "results.jsonl"
    )


def test_llm_judge_grades_through_vllm(vllm: str) -> None:
    """The tiny model cannot judge: its reply names no verdict, so the grade is not attempted
    and flagged, as an unparseable judge reply must be."""
    judge = LLMJudge(vllm, SERVED, retries=1)
    result = judge.grade("Who wrote Hamlet?", "William Shakespeare", "Shakespeare")
    assert result.grade in GRADES and result.grader == f"llm:{SERVED}"
    assert result.flagged and result.grade == "not_attempted"
    assert "unparseable" in result.reason


def test_report_renders_runs_and_published_rows_in_chromium(
    vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    evaluate(tmp_path / "native", vllm, musique_index_dir, limit=2)
    evaluate(tmp_path / "react", vllm, musique_index_dir, limit=2, agent="react")
    paths = write_report([tmp_path / "native", tmp_path / "react"], tmp_path / "report")
    markdown, page, chart = (p.read_text() if p.suffix != ".png" else p for p in paths)
    assert "offline rule grader" in markdown and "Published figures (not measured here)" in markdown
    assert "83.2" in markdown and "| native |" in markdown
    assert page.count("<details>") == 4 and "published, not measured" in page
    assert chart.stat().st_size > 10_000
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("Debian chromium is not installed (make test installs it)")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1400,1200",
            (tmp_path / "report" / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 1200)
    colours = image.getcolors(maxcolors=1 << 20) or []
    counts = {colour: count for count, colour in colours}
    assert counts.get((240, 240, 240), 0) > 2000  # the tables' header cells
    assert counts.get((250, 250, 250), 0) > 2000  # the published rows' background
    dark = sum(count for colour, count in counts.items() if max(colour) < 80)
    assert dark > 5000  # text was drawn


def test_a_qa_jsonl_file_runs_like_simpleqa(
    vllm: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "q1",
            "question": "Where does the Bubye River flow?",
            "answer": "Limpopo River",
            "answer_aliases": ["the Limpopo"],
        },
        {"question": "Who sang Hank Snow's songs?", "golden_answers": ["Hank Snow"]},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    evaluate(tmp_path / "run", vllm, musique_index_dir, data=str(data))
    graded = rows_of(tmp_path / "run" / "results.jsonl")
    assert sorted(r["id"] for r in graded) == ["line-2", "q1"]
    aliases = {r["id"]: r["answer_aliases"] for r in graded}
    assert aliases == {"q1": ["the Limpopo"], "line-2": []}, "the grader is not given the aliases"
    assert_searched_through_mcp(graded)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["dataset"]["source"] == "questions.jsonl"
