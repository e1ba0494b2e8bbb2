"""The LLM judge: any OpenAI-compatible chat endpoint grades with our prompt, which applies
SimpleQA's rules. A reply that names no grade counts as not attempted and is flagged."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from nanosearch.errors import NanosearchError
from nanosearch.eval.grading import Grade, GradeResult

JUDGE_PROMPT = """You grade one answer to a factual question against the gold target.

Question: {problem}
Gold target: {answer}
Predicted answer: {prediction}

Rules:
- CORRECT: the predicted answer contains the gold target's full meaning (spelling, word order,
  titles and extra detail may differ; a number must match to the gold target's last
  significant figure; a person may be named by the distinctive part of the name) and says
  nothing that contradicts it. Hedging words are allowed when a single answer is given.
- INCORRECT: the prediction states an answer that is not the gold target, or offers several
  candidates of which one is the gold target ("X or Y"), or contradicts itself.
- NOT_ATTEMPTED: the prediction gives no answer: it says it does not know, cannot find the
  information, or is empty, and does not state a wrong answer.

Reply with exactly one word: CORRECT, INCORRECT or NOT_ATTEMPTED."""

VERDICTS: dict[str, Grade] = {
    "NOT_ATTEMPTED": "not_attempted",
    "NOT ATTEMPTED": "not_attempted",
    "INCORRECT": "incorrect",
    "CORRECT": "correct",
}
VERDICT = re.compile(r"\b(NOT[_ ]ATTEMPTED|INCORRECT|CORRECT)\b")
LETTER = re.compile(r"^\s*\(?([ABC])\)?\s*[.:)]?\s*$")
TRANSIENT = {408, 409, 425, 429, 500, 502, 503, 504}


def parse_verdict(reply: str) -> Grade | None:
    """The grade a judge's reply names: the first verdict word (case-sensitive, as asked), or a
    lone A/B/C (SimpleQA's own letters); None when it names none."""
    text = re.sub(r"<think>.*?</think>", "", reply, flags=re.DOTALL)
    found = VERDICT.search(text)
    if found:
        return VERDICTS[found.group(1)]
    letter = LETTER.match(text)
    if letter:
        letters: dict[str, Grade] = {"A": "correct", "B": "incorrect", "C": "not_attempted"}
        return letters[letter.group(1)]
    return None


class LLMJudge:
    """Grades through ``POST {base_url}/chat/completions`` with retries on transient errors."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        retries: int = 4,
        backoff: float = 1.0,
        max_tokens: int = 16,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.max_tokens = max_tokens
        self.name = f"llm:{model}"

    def grade(self, problem: str, answer: str, prediction: str | None) -> GradeResult:
        content = JUDGE_PROMPT.format(problem=problem, answer=answer, prediction=prediction or "")
        reply = self.complete(content)
        verdict = parse_verdict(reply)
        if verdict is None:
            reason = f"unparseable reply: {reply[:200]!r}"
            return GradeResult("not_attempted", self.name, reason, flagged=True)
        return GradeResult(verdict, self.name, reply.strip()[:200])

    def complete(self, content: str) -> str:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
            "chat_template_kwargs": {"enable_thinking": False},
        }
        for attempt in range(self.retries + 1):
            try:
                response = self.client.post("/chat/completions", json=body)
            except httpx.TransportError as error:
                problem = f"cannot reach the judge at {self.client.base_url}: {error}"
            else:
                if response.status_code == 200:
                    choices = response.json().get("choices") or [{}]
                    return (choices[0].get("message") or {}).get("content") or ""
                problem = f"judge endpoint answered {response.status_code}: {response.text[:200]}"
                if response.status_code not in TRANSIENT:
                    raise NanosearchError(problem)
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise NanosearchError(f"{problem} (after {self.retries + 1} attempts)")

    def close(self) -> None:
        self.client.close()
