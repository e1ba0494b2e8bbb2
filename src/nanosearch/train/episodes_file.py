"""``nanosearch rollout``: episodes of a model on a question file, written as JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nanosearch.env.chat import ChatFormat
from nanosearch.env.policy import TransformersPolicy
from nanosearch.env.runner import EnvConfig, question_of, run_episodes
from nanosearch.errors import NanosearchError
from nanosearch.models import load_model
from nanosearch.protocol import Episode, tool_protocol
from nanosearch.rewards import STAGES, score
from nanosearch.search import load
from nanosearch.tools import EngineTools


def read_examples(path: Path, n: int) -> list[dict[str, Any]]:
    if not path.is_file():
        raise NanosearchError(f"question file not found: {path}")
    examples = []
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if len(examples) == n:
                break
            if not line.strip():
                continue
            try:
                example = json.loads(line)
                question_of(example)
            except (json.JSONDecodeError, ValueError, TypeError) as error:
                raise NanosearchError(f"{path}: line {number}: {error}") from None
            examples.append(example)
    if not examples:
        raise NanosearchError(f"{path}: no question found")
    return examples


def episode_record(episode: Episode, example: dict[str, Any], stage: int) -> dict[str, Any]:
    result = score(episode, example, stage)
    return {
        "id": example.get("id"),
        "gold": example.get("answer"),
        **episode.to_dict(),
        "reward": result.total,
        "rewards": result.components,
    }


def rollout_file(
    model: str,
    questions: Path,
    index: Path,
    out: Path,
    *,
    n: int = 8,
    batch_size: int = 8,
    max_turns: int = 10,
    token_budget: int = 8192,
    temperature: float = 0.7,
    top_p: float = 0.8,
    stage: int = 1,
    thinking: bool = False,
    protocol: str = "xml",
) -> int:
    if stage not in STAGES:
        raise NanosearchError(f"unknown reward stage {stage}; the stages are {sorted(STAGES)}")
    try:
        tool_protocol(protocol)
    except ValueError as error:
        raise NanosearchError(str(error)) from None
    examples = read_examples(questions, n)
    engine = load(index)
    network, tokenizer = load_model(model)
    policy = TransformersPolicy(network, tokenizer, temperature=temperature, top_p=top_p)
    chat = ChatFormat.from_tokenizer(tokenizer, thinking=thinking)
    config = EnvConfig(max_turns=max_turns, token_budget=token_budget, protocol=protocol)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with out.open("w") as sink, tqdm(total=len(examples), unit="episode", desc="rollout") as bar:
        for start in range(0, len(examples), batch_size):
            batch = examples[start : start + batch_size]
            for episode, example in zip(
                run_episodes(policy, EngineTools(engine), chat, batch, config), batch, strict=True
            ):
                sink.write(
                    json.dumps(episode_record(episode, example, stage), ensure_ascii=False) + "\n"
                )
                written += 1
            sink.flush()
            bar.update(len(batch))
    return written
