"""``nanosearch eval simpleqa``: every question through one agent runtime, graded, one line of
``results.jsonl`` per question as soon as it is done.

A run directory holds ``run.json`` (what was run), ``answers.jsonl`` (each agent answer as it
comes back, before grading), ``results.jsonl`` (graded rows) and ``summary.json``. Resuming
skips graded questions and grades answered ones without asking the model again, so neither
the model nor the judge is called twice for a question. Questions run concurrently up to a
bound; a question that fails (an endpoint down after its retries) is not written, is reported
at the end, and is done on the next ``--resume``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nanosearch.env import EnvConfig
from nanosearch.errors import NanosearchError
from nanosearch.eval.agents.base import Agent
from nanosearch.eval.chat_client import ChatSettings
from nanosearch.eval.grading import GradeResult, grade_offline
from nanosearch.eval.mcp_connection import McpConnection, McpTarget
from nanosearch.eval.metrics import summarize
from nanosearch.eval.results import JsonlLog
from nanosearch.files import directory_lock, write_json

AGENTS = ("native", "react", "codeagent")
MATCHED_ON_RESUME = ("agent", "model", "grader", "thinking", "limits", "dataset")
GROWABLE_ON_RESUME = ("limit", "questions")
"""A resumed run may ask more questions of the same data (a larger ``--limit``)."""


class Grader(Protocol):
    name: str

    def grade(
        self, problem: str, answer: str, prediction: str | None, aliases: Sequence[str] = ()
    ) -> GradeResult: ...


class OfflineGrader:
    name = "offline"

    def grade(
        self, problem: str, answer: str, prediction: str | None, aliases: Sequence[str] = ()
    ) -> GradeResult:
        return grade_offline(prediction, answer, aliases)


ENDPOINT_CONCURRENCY = 4  # questions in flight against an endpoint someone else serves


@dataclass
class EvalRun:
    agent: str
    out: Path
    questions: list[dict[str, Any]]
    chat: ChatSettings
    target: McpTarget
    grader: Grader
    limits: EnvConfig = field(default_factory=EnvConfig)
    model_label: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)
    concurrency: int = ENDPOINT_CONCURRENCY
    resume: bool = False
    progress: bool = True

    def description(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "model": self.model_label or self.chat.model,
            "endpoint": self.chat.described(),
            "thinking": self.chat.thinking,
            "grader": self.grader.name,
            "mcp": self.target.described(),
            "limits": asdict(self.limits),
            "dataset": self.dataset,
            "concurrency": self.concurrency,
        }


@dataclass
class EvalOutcome:
    out: Path
    summary: dict[str, Any]
    done_before: int
    answered: int
    failures: list[tuple[str, str]]
    wall_s: float

    def lines(self) -> list[str]:
        s = self.summary
        low, high = s["accuracy_ci95"]
        lines = [
            f"{s['questions']} graded ({self.done_before} from an earlier run), "
            f"{self.answered} answered now, in {self.wall_s:.1f} s",
            f"correct {s['correct']}, incorrect {s['incorrect']}, "
            f"not attempted {s['not_attempted']}",
            f"accuracy {s['accuracy']:.1%} (95% CI {low:.1%} to {high:.1%}), "
            f"given attempted {s['accuracy_given_attempted']:.1%}, F1 {s['f1']:.3f}",
            f"grader: {s['grader']}",
            f"results: {self.out / 'results.jsonl'}",
        ]
        if self.failures:
            first_id, first_error = self.failures[0]
            lines.append(
                f"{len(self.failures)} questions failed and were not written "
                f"(first: {first_id}: {first_error}); rerun with --resume to do them"
            )
        return lines


def run_eval(run: EvalRun) -> EvalOutcome:
    """Answer and grade every question of ``run`` into its directory, which no other
    evaluation may use meanwhile."""
    if run.agent not in AGENTS:
        raise NanosearchError(f"unknown agent {run.agent!r}; choose one of {', '.join(AGENTS)}")
    with directory_lock(run.out, "evaluation"):
        return _run_locked(run)


def _run_locked(run: EvalRun) -> EvalOutcome:
    started = time.perf_counter()
    results, answers = _open_run_dir(run)
    graded_rows = results.read()
    graded = {row["id"] for row in graded_rows}
    answered = {row["id"]: row for row in answers.read() if row["id"] not in graded}
    todo = [q for q in run.questions if q["id"] not in graded]
    failures: list[tuple[str, str]] = []
    asked = {q["id"] for q in run.questions}
    bar = _progress(len(run.questions), len(graded & asked), run.progress)
    to_grade = [answered[q["id"]] for q in todo if q["id"] in answered]
    to_answer = [q for q in todo if q["id"] not in answered]
    new_answers = 0

    def finish_row(answer_row: dict[str, Any]) -> None:
        grade = run.grader.grade(
            answer_row["problem"],
            answer_row["answer"],
            answer_row["prediction"],
            answer_row.get("answer_aliases") or (),
        )
        results.append(
            {
                **answer_row,
                "grade": grade.grade,
                "grader": grade.grader,
                "grade_reason": grade.reason,
                "grade_flagged": grade.flagged,
            }
        )

    for answer_row in to_grade:
        try:
            finish_row(answer_row)
        except NanosearchError as error:
            failures.append((answer_row["id"], f"grading: {error}"))
        bar.update(1)

    if to_answer:
        with open_agent(run.agent, run.chat, run.target, run.limits) as agent:

            def solve(question: dict[str, Any]) -> None:
                began = time.perf_counter()
                result = agent.solve(question["problem"])
                row = {
                    "id": question["id"],
                    "problem": question["problem"],
                    "answer": question["answer"],
                    "answer_aliases": question.get("answer_aliases") or [],
                    "topic": question.get("topic"),
                    "answer_type": question.get("answer_type"),
                    "dataset": question.get("dataset"),
                    "agent": run.agent,
                    "prediction": result.prediction,
                    **result.costs(),
                    "latency_s": round(time.perf_counter() - began, 3),
                    "trajectory": result.trajectory,
                }
                answers.append(row)
                finish_row(row)

            new_answers = _run_all(solve, to_answer, run.concurrency, bar, failures)
    bar.close()
    rows = _in_question_order(results.read(), run.questions)
    summary = {**summarize(rows), "grader": run.grader.name, "run": run.description()}
    write_json(run.out / "summary.json", summary)
    return EvalOutcome(
        run.out,
        summary,
        len(graded & asked),
        new_answers,
        failures,
        time.perf_counter() - started,
    )


def _run_all(
    solve: Any,
    questions: list[dict[str, Any]],
    concurrency: int,
    bar: Any,
    failures: list[tuple[str, str]],
) -> int:
    """Run ``solve`` over the questions, at most ``concurrency`` at once. When the first
    questions all fail the same way (an endpoint that is down), the rest are not started."""
    done = 0
    streak = 0
    pending = iter(questions)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        running: dict[Future[None], str] = {}

        def top_up() -> None:
            while len(running) < concurrency:
                question = next(pending, None)
                if question is None:
                    return
                running[pool.submit(solve, question)] = question["id"]

        top_up()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                question_id = running.pop(future)
                error = future.exception()
                bar.update(1)
                if error is None:
                    done += 1
                    streak = 0
                    continue
                failures.append((question_id, _message(error)))
                streak += 1
            if done == 0 and streak >= max(3, concurrency):
                for future in running:
                    future.cancel()
                raise NanosearchError(
                    f"the first {streak} questions all failed; stopping. "
                    f"First error: {failures[0][1]}"
                )
            top_up()
    return done


def _message(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return (
        text.splitlines()[0][:300]
        if isinstance(error, NanosearchError)
        else (f"{type(error).__name__}: {text.splitlines()[0][:300]}")
    )


@contextmanager
def open_agent(
    kind: str, chat: ChatSettings, target: McpTarget, limits: EnvConfig
) -> Iterator[Agent]:
    """The runtime ``kind`` with its MCP session open until the block ends."""
    if kind == "codeagent":
        from nanosearch.eval.agents.codeagent import CodeAgentRuntime

        agent: Agent = CodeAgentRuntime(chat, target, limits)
        try:
            yield agent
        finally:
            agent.close()
        return
    with McpConnection(target) as mcp:
        if kind == "native":
            from nanosearch.eval.agents.native import NativeAgent

            agent = NativeAgent(chat, mcp, limits)
        else:
            from nanosearch.eval.agents.react import ReactAgent

            agent = ReactAgent(chat, mcp, limits)
        try:
            yield agent
        finally:
            agent.close()


def _open_run_dir(run: EvalRun) -> tuple[JsonlLog, JsonlLog]:
    run.out.mkdir(parents=True, exist_ok=True)
    described = run.description()
    run_file = run.out / "run.json"
    results = JsonlLog(run.out / "results.jsonl")
    answers = JsonlLog(run.out / "answers.jsonl")
    has_rows = results.path.exists() or answers.path.exists()
    if has_rows and not run.resume:
        raise NanosearchError(
            f"{run.out} already holds a run; pass --resume to continue it, or choose another --out"
        )
    if run.resume and run_file.exists():
        try:
            before = json.loads(run_file.read_text())
        except ValueError as error:
            raise NanosearchError(f"{run_file} is not JSON ({error})") from None
        for key in MATCHED_ON_RESUME:
            was, now = before.get(key), described[key]
            if key == "dataset" and isinstance(was, dict):
                was = {k: v for k, v in was.items() if k not in GROWABLE_ON_RESUME}
                now = {k: v for k, v in now.items() if k not in GROWABLE_ON_RESUME}
            if was != now:
                raise NanosearchError(
                    f"cannot resume {run.out}: it was run with {key} {was!r}, not {now!r}"
                )
    write_json(run_file, described)
    return results, answers


def _in_question_order(
    rows: list[dict[str, Any]], questions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    order = {q["id"]: i for i, q in enumerate(questions)}
    kept = {row["id"]: row for row in rows if row["id"] in order}
    return sorted(kept.values(), key=lambda row: order[row["id"]])


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="questions", unit="q", disable=not enabled)
