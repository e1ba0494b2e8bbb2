"""``stage-N/rollouts.jsonl``: every episode a stage's rollouts played, kept or dropped.

``metrics.jsonl`` holds a generation batch's means; this holds its episodes, so that what the
policy did at a step can be read back (which questions it got right, what it searched, which
groups dynamic sampling dropped). One line per episode: the step that first trains on its batch,
the sampling round and group it was played in, whether dynamic sampling kept its group, the
question's id and gold answers (with its ``hops`` and ``relations`` where the question has them),
the model's turns, tool calls and answer, and its rewards. The token ids are left out: the
model's turns are their text. Lines are appended and flushed batch by batch, so a killed run
keeps every batch it finished; a resumed stage drops the lines of the steps it plays again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nanosearch.files import append_jsonl
from nanosearch.protocol import Episode
from nanosearch.rewards import Score
from nanosearch.rewards.answers import gold_answers

if TYPE_CHECKING:
    from nanosearch.train.rollout import PlayedGroup

ROLLOUTS_FILE = "rollouts.jsonl"
ROLLOUTS_GLOB = "rollouts*.jsonl"
QUESTION_FIELDS = ("hops", "relations")


def rollouts_file(directory: Path, process_index: int) -> Path:
    """This process's file: ``rollouts.jsonl`` for the first, ``rollouts-N.jsonl`` for others."""
    name = ROLLOUTS_FILE if process_index == 0 else f"rollouts-{process_index}.jsonl"
    return directory / name


def episode_line(
    episode: Episode, example: dict[str, Any], score: Score | None = None, **where: Any
) -> dict[str, Any]:
    """One episode as a log line: ``where`` first (step, ...), then the question and what the
    model did, then its rewards when it was scored."""
    line = {
        **where,
        "id": example.get("id"),
        "question": episode.question,
        "gold": gold_answers(example),
        **{key: example[key] for key in QUESTION_FIELDS if key in example},
        "answer": episode.answer,
        "stop_reason": episode.stop_reason,
        "truncated": episode.truncated,
        "model_turns": episode.model_turns,
        "tool_calls": [
            {"name": call.name, "arguments": call.arguments, "ok": call.ok}
            for call in episode.tool_calls
        ],
        "model_tokens": episode.num_model_tokens,
    }
    if score is not None:
        line.update(reward=score.total, rewards=score.components)
    return line


class RolloutLog:
    """Appends the episodes of each generation batch to one process's file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(
        self,
        step: int,
        rounds: Sequence[Sequence[PlayedGroup]],
        kept: Sequence[PlayedGroup],
    ) -> None:
        """``rounds``: the groups each sampling round played; ``kept``: those in the batch."""
        chosen = {id(group) for group in kept}
        lines = [
            episode_line(
                episode,
                group.example,
                score,
                step=step,
                round=number,
                group=position,
                kept=id(group) in chosen,
            )
            for number, groups in enumerate(rounds, start=1)
            for position, group in enumerate(groups)
            for episode, score in zip(group.episodes, group.scores, strict=True)
        ]
        append_jsonl(self.path, lines)
