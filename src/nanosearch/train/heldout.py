"""Held-out evaluation while training: greedy episodes on questions the policy never trains on,
through the same environment, tools and chat framing as the rollouts.

Metrics (all means over questions): ``exact_match`` and ``f1`` against the answer and its
aliases, ``answer_rate``, ``tool_success`` (calls that ran without error, over all calls),
``turns``, ``searches``, ``fetches`` and ``searches_per_answered`` (searches of the questions
that were answered, per answered question); ``support_recall`` when the questions name their
``supporting_ids``: the share of a question's supporting passages whose id some result showed
the model (it separates "never found the passage" from "found it and answered wrong"); each
again by hop count when the questions carry one (``hops_1/exact_match``, ...).

Each evaluation's episodes go to ``heldout-episodes.jsonl`` beside ``metrics.jsonl``, one line
per dev question with the step, its exact match and support found: what the policy answered
at each evaluation, not only how often it was right.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from nanosearch.env import ChatFormat, EnvConfig, TransformersPolicy, run_episodes
from nanosearch.files import append_jsonl
from nanosearch.protocol import Episode
from nanosearch.rewards.answers import exact_match, gold_answers, token_f1
from nanosearch.tools import ToolClient, shown_ids
from nanosearch.train.metrics import append_metrics, read_metrics
from nanosearch.train.rollout_log import episode_line

PREFIX = "heldout/"
HELDOUT_EPISODES = "heldout-episodes.jsonl"
BATCH = 128
logger = logging.getLogger(__name__)


def episode_metrics(episodes: Sequence[Episode], examples: Sequence[dict[str, Any]]) -> dict:
    def summarize(pairs: list[tuple[Episode, dict[str, Any]]]) -> dict[str, float]:
        count = len(pairs)
        calls = [c for e, _ in pairs for c in e.tool_calls]
        answered = [e for e, _ in pairs if e.answer is not None]
        searches = [sum(c.name == "web_search" for c in e.tool_calls) for e, _ in pairs]
        answered_searches = [sum(c.name == "web_search" for c in e.tool_calls) for e in answered]
        row: dict[str, float] = {
            "questions": count,
            "exact_match": sum(exact_match(e.answer or "", gold_answers(x)) for e, x in pairs)
            / count,
            "f1": sum(token_f1(e.answer or "", gold_answers(x)) for e, x in pairs) / count,
            "answer_rate": len(answered) / count,
            "tool_success": sum(c.ok for c in calls) / len(calls) if calls else 0.0,
            "turns": sum(len(e.model_turns) for e, _ in pairs) / count,
            "searches": sum(searches) / count,
            "fetches": sum(c.name == "fetch" for c in calls) / count,
            "searches_per_answered": (sum(answered_searches) / len(answered) if answered else 0.0),
        }
        supported = [(e, x["supporting_ids"]) for e, x in pairs if x.get("supporting_ids")]
        if supported:
            recall = sum(support_found(e, ids) for e, ids in supported) / len(supported)
            row["support_recall"] = recall
        return row

    pairs = list(zip(episodes, examples, strict=True))
    if not pairs:
        return {}
    metrics: dict[str, Any] = summarize(pairs)
    by_hops: dict[int, list[tuple[Episode, dict[str, Any]]]] = defaultdict(list)
    for episode, example in pairs:
        if isinstance(example.get("hops"), int):
            by_hops[example["hops"]].append((episode, example))
    for hops, group in sorted(by_hops.items()):
        for name, value in summarize(group).items():
            metrics[f"hops_{hops}/{name}"] = value
    return metrics


def support_found(episode: Episode, supporting_ids: Sequence[str]) -> float:
    """The share of ``supporting_ids`` whose id a result the episode showed the model names."""
    shown = {
        doc_id
        for message in episode.messages[2:]
        if message["role"] != "assistant"
        for doc_id in shown_ids(message["content"])
    }
    return sum(doc_id in shown for doc_id in supporting_ids) / len(supporting_ids)


def evaluate_policy(
    model: Any,
    tokenizer: Any,
    chat: ChatFormat,
    tools: ToolClient,
    examples: Sequence[dict[str, Any]],
    config: EnvConfig,
) -> tuple[dict[str, Any], list[Episode]]:
    """Greedy episodes for every example, in batches; the model's train/eval mode is restored."""
    was_training = model.training
    model.eval()
    policy = TransformersPolicy(model, tokenizer, temperature=0.0, end_token_id=chat.eos_token_id)
    episodes: list[Episode] = []
    try:
        for start in range(0, len(examples), BATCH):
            batch = list(examples[start : start + BATCH])
            episodes += run_episodes(policy, tools, chat, batch, config)
    finally:
        model.train(was_training)
    return episode_metrics(episodes, examples), episodes


class HeldOutCallback(TrainerCallback):
    """Evaluates on the dev questions every ``every`` steps and at the stage's end; each
    evaluation is a line of ``metrics.jsonl`` (keys under ``heldout/``) and TensorBoard
    scalars. ``latest`` keeps the last one for progress lines and the run summary."""

    def __init__(
        self,
        *,
        tokenizer: Any,
        chat: ChatFormat,
        tools: ToolClient,
        examples: Sequence[dict[str, Any]],
        config: EnvConfig,
        every: int,
        metrics_path: Path,
        episodes_path: Path,
        stage: str,
        writer: Any = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.chat = chat
        self.tools = tools
        self.examples = examples
        self.config = config
        self.every = every
        self.metrics_path = metrics_path
        self.stage = stage
        self.writer = writer
        self.episodes_path = episodes_path
        self.latest: dict[str, Any] | None = None
        self.done_at: int | None = None

    def evaluate(self, model: Any, step: int) -> dict[str, Any]:
        started = time.perf_counter()
        metrics, episodes = evaluate_policy(
            model, self.tokenizer, self.chat, self.tools, self.examples, self.config
        )
        record = {PREFIX + k: v for k, v in metrics.items()}
        record[PREFIX + "wall_s"] = round(time.perf_counter() - started, 2)
        append_metrics(self.metrics_path, self.stage, step, record)
        append_jsonl(self.episodes_path, episode_lines(episodes, self.examples, step))
        if self.writer is not None:
            for key, value in record.items():
                self.writer.add_scalar(key, value, step)
            self.writer.flush()
        self.latest, self.done_at = metrics, step
        return metrics

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any):
        if (
            state.is_world_process_zero
            and model is not None
            and state.global_step % self.every == 0
        ):
            self.evaluate(model, state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any):
        if state.is_world_process_zero and model is not None and self.done_at != state.global_step:
            self.evaluate(model, state.global_step)


def episode_lines(
    episodes: Sequence[Episode], examples: Sequence[dict[str, Any]], step: int
) -> list[dict[str, Any]]:
    """One evaluation's episodes as lines of ``heldout-episodes.jsonl``."""
    lines = []
    for episode, example in zip(episodes, examples, strict=True):
        found = {}
        if example.get("supporting_ids"):
            found["support_found"] = support_found(episode, example["supporting_ids"])
        right = exact_match(episode.answer or "", gold_answers(example))
        lines.append(episode_line(episode, example, step=step, exact_match=right, **found))
    return lines


def read_heldout(path: Path) -> list[dict[str, Any]]:
    """The held-out lines of a stage's ``metrics.jsonl``, by step."""
    return [r for r in read_metrics(path) if PREFIX + "exact_match" in r]
