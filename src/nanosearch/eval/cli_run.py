"""From the command line's options to an evaluation run: check them, open the model (an
endpoint, or an in-process checkpoint behind a loopback endpoint), load the questions, run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanosearch.env import EnvConfig
from nanosearch.errors import NanosearchError
from nanosearch.eval.chat_client import ChatSettings
from nanosearch.eval.mcp_connection import McpTarget
from nanosearch.eval.runner import (
    AGENTS,
    ENDPOINT_CONCURRENCY,
    EvalRun,
    Grader,
    OfflineGrader,
    run_eval,
)
from nanosearch.protocol import PROTOCOLS, RESULT_CHARS

THINKING = {"on": True, "off": False, "auto": None}


@dataclass
class EvalOptions:
    out: Path
    agent: str = "native"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    index: Path | None = None
    mcp: str | None = None
    backend: str = "local"
    backend_url: str | None = None
    data: str | list[str] | None = None
    split: str = "test"
    task: str = "simpleqa"
    """``simpleqa`` (one SimpleQA CSV or QA JSONL) or ``qa`` (QA benchmarks, one or more)."""
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    topic: list[str] | None = None
    answer_type: list[str] | None = None
    grader: str = "offline"
    judge_base_url: str | None = None
    judge_model: str | None = None
    judge_api_key: str | None = None
    judge_template: Path | None = None
    thinking: str = "off"
    temperature: float = 0.7
    top_p: float = 0.8
    max_tokens: int = 1024
    max_turns: int = 10
    context_budget: int = 8192
    result_chars: int = RESULT_CHARS
    protocol: str = "xml"
    concurrency: int | None = None  # None: ENDPOINT_CONCURRENCY, or the local model's batch
    retries: int = 4
    resume: bool = False
    progress: bool = True

    def questions_in_flight(self) -> int:
        """``concurrency`` as given; by default as many questions as the in-process model
        generates in one batch, or a few against an endpoint someone else serves."""
        if self.concurrency is not None:
            return self.concurrency
        if self.base_url is None:
            from nanosearch.eval.local_server import MAX_BATCH

            return MAX_BATCH
        return ENDPOINT_CONCURRENCY

    def check(self) -> None:
        """Every mistake in the options, named, before a model is loaded or a server started."""
        if self.task not in ("simpleqa", "qa"):
            raise NanosearchError(f"unknown evaluation task {self.task!r}")
        if self.task == "qa" and (self.topic or self.answer_type):
            raise NanosearchError("--topic and --answer-type filter SimpleQA, not QA benchmarks")
        if self.agent not in AGENTS:
            raise NanosearchError(f"--agent must be one of {', '.join(AGENTS)}, not {self.agent!r}")
        if self.protocol not in PROTOCOLS:
            raise NanosearchError(
                f"--protocol must be one of {', '.join(PROTOCOLS)}, not {self.protocol!r}"
            )
        if self.protocol != "xml" and self.agent != "native":
            raise NanosearchError(
                f"--protocol sets the native runtime's tool protocol; {self.agent} keeps its own"
            )
        if self.model is None:
            raise NanosearchError(
                "give --model: a local directory or hub id to run in this process, "
                "or the served model's name together with --base-url"
            )
        from nanosearch.tools.web import BACKENDS

        if self.backend not in BACKENDS:
            raise NanosearchError(
                f"--backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}"
            )
        where = [self.index is not None, self.mcp is not None, self.backend != "local"]
        if sum(where) != 1:
            raise NanosearchError(
                "give one of --index DIR (served to the agent over MCP stdio), --backend "
                "serper|searxng|brave|tavily (the web, served over MCP stdio) or --mcp URL"
            )
        if self.backend_url is not None and self.backend == "local":
            raise NanosearchError("--backend-url is for a web backend (--backend)")
        if self.backend != "local":
            from nanosearch.tools.web import search_api

            search_api(self.backend, self.backend_url)  # a missing key or address, named now
        if self.index is not None and not (self.index / "manifest.json").exists():
            raise NanosearchError(f"no index at {self.index} (build one with `nanosearch index`)")
        if self.thinking not in THINKING:
            raise NanosearchError(f"--thinking must be on, off or auto, not {self.thinking!r}")
        if self.grader not in ("offline", "llm"):
            raise NanosearchError(f"--grader must be offline or llm, not {self.grader!r}")
        if self.grader == "llm" and not (self.judge_base_url and self.judge_model):
            raise NanosearchError("--grader llm needs --judge-base-url and --judge-model")
        if self.judge_template is not None:
            if self.grader != "llm":
                raise NanosearchError("--judge-template is for --grader llm")
            from nanosearch.eval.judge import JudgeTemplate

            JudgeTemplate.from_file(self.judge_template)  # a missing placeholder, named now
        if self.result_chars < 64:
            raise NanosearchError("--result-chars must be at least 64")
        for name in ("max_tokens", "max_turns", "context_budget", "concurrency"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise NanosearchError(f"--{name.replace('_', '-')} must be at least 1")
        if self.retries < 0:
            raise NanosearchError("--retries must be 0 or more")


def make_grader(options: EvalOptions) -> Grader:
    if options.grader == "offline":
        return OfflineGrader()
    from nanosearch.eval.judge import BUILT_IN, JudgeTemplate, LLMJudge

    template = (
        BUILT_IN
        if options.judge_template is None
        else JudgeTemplate.from_file(options.judge_template)
    )
    return LLMJudge(
        options.judge_base_url or "",
        options.judge_model or "",
        api_key=options.judge_api_key,
        retries=options.retries,
        template=template,
    )


def load_questions(options: EvalOptions) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The questions to ask, and how they were chosen (for ``run.json``)."""
    chosen: dict[str, Any] = {
        "limit": options.limit,
        "sample": options.sample,
        "seed": options.seed,
    }
    if options.task == "qa":
        from nanosearch.data.qa import load_qa_sets

        specs = [options.data] if isinstance(options.data, str) else list(options.data or [])
        questions = load_qa_sets(
            specs,
            split=options.split,
            limit=options.limit,
            sample=options.sample,
            seed=options.seed,
        )
        sets = Counter(q["dataset"] for q in questions)
        return questions, {"task": "qa", "sets": dict(sets), "questions": len(questions), **chosen}
    from nanosearch.assets import SIMPLEQA_TEST
    from nanosearch.data import load_simpleqa

    source = str(options.data or SIMPLEQA_TEST)
    if source.endswith(".jsonl") and not (options.topic or options.answer_type):
        from nanosearch.data.qa import load_qa_jsonl

        questions = load_qa_jsonl(
            source, limit=options.limit, sample=options.sample, seed=options.seed
        )
    elif source.endswith(".jsonl"):
        raise NanosearchError("--topic and --answer-type filter SimpleQA, not a QA JSONL file")
    else:
        questions = load_simpleqa(
            source,
            limit=options.limit,
            sample=options.sample,
            seed=options.seed,
            topics=options.topic,
            answer_types=options.answer_type,
        )
    return questions, {
        "source": Path(source).name if Path(source).exists() else source,
        "questions": len(questions),
        **chosen,
        "topics": options.topic,
        "answer_types": options.answer_type,
    }


def run_from_options(options: EvalOptions) -> Iterator[str]:

    options.check()
    questions, dataset = load_questions(options)
    target = McpTarget(
        index=options.index,
        url=options.mcp,
        result_chars=options.result_chars,
        backend=options.backend,
        backend_url=options.backend_url,
    )
    grader = make_grader(options)
    with ExitStack() as stack:
        base_url, served, label = options.base_url, options.model or "", options.model or ""
        if base_url is None:
            from nanosearch.eval.local_server import SERVED_NAME, serve_local_model

            yield f"loading {options.model} in this process"
            base_url = stack.enter_context(serve_local_model(served, max_tokens=options.max_tokens))
            served = SERVED_NAME
        chat = ChatSettings(
            base_url=base_url,
            model=served,
            api_key=options.api_key,
            temperature=options.temperature,
            top_p=options.top_p,
            max_tokens=options.max_tokens,
            thinking=THINKING[options.thinking],
            retries=options.retries,
        )
        run = EvalRun(
            agent=options.agent,
            out=options.out,
            questions=questions,
            chat=chat,
            target=target,
            grader=grader,
            limits=EnvConfig(
                max_turns=options.max_turns,
                token_budget=options.context_budget,
                result_chars=options.result_chars,
                protocol=options.protocol,
            ),
            model_label=label,
            dataset=dataset,
            concurrency=options.questions_in_flight(),
            resume=options.resume,
            progress=options.progress,
        )
        outcome = run_eval(run)
        yield from outcome.lines()
        if outcome.failures:
            raise NanosearchError(
                f"{len(outcome.failures)} questions failed; rerun with --resume to finish"
            )
