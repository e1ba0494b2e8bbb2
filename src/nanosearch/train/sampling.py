"""DAPO's dynamic sampling: keep only groups whose rewards differ.

A group whose completions all score the same has zero advantage everywhere: it adds tokens to
the loss normaliser and nothing to the gradient. Dynamic sampling plays more prompts and keeps
groups with reward variance until the batch is full, giving up after a number of rounds; the
batch is then completed with signal-free groups (they cost compute, not correctness).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

Group = TypeVar("Group")


def has_signal(rewards: Sequence[float], tolerance: float = 1e-6) -> bool:
    """Whether a group's rewards are not all equal."""
    return max(rewards) - min(rewards) > tolerance if rewards else False


@dataclass
class SamplingStats:
    rounds: int = 0
    groups_played: int = 0
    groups_dropped: int = 0
    groups_without_signal_kept: int = 0

    def as_metrics(self) -> dict[str, float]:
        return {
            "dynamic_sampling/rounds": float(self.rounds),
            "dynamic_sampling/groups_played": float(self.groups_played),
            "dynamic_sampling/groups_dropped": float(self.groups_dropped),
            "dynamic_sampling/groups_without_signal_kept": float(self.groups_without_signal_kept),
        }


def fill_batch(
    first: list[Group],
    play: Callable[[list[Group]], list[list[float]]],
    refill: Callable[[int], list[Group]],
    *,
    size: int,
    max_rounds: int,
    enabled: bool = True,
    keep_going: Callable[[bool], bool] = lambda needed: needed,
) -> tuple[list[Group], list[list[float]], SamplingStats]:
    """Play ``first``, then refills, until ``size`` groups with signal are kept.

    ``play`` returns each group's rewards; ``refill(n)`` gives ``n`` more groups to play.
    ``keep_going(needed)`` decides whether another round runs (several processes agree there
    so that they all make the same number of generation calls). Disabled, the first round is
    kept as it is. The groups are returned with their rewards.
    """
    stats = SamplingStats()
    kept: list[tuple[Group, list[float]]] = []
    spare: list[tuple[Group, list[float]]] = []
    candidates = first
    while True:
        rewards = play(candidates) if candidates else []
        stats.rounds += 1
        stats.groups_played += len(candidates)
        for group, group_rewards in zip(candidates, rewards, strict=True):
            if not enabled or has_signal(group_rewards):
                kept.append((group, group_rewards))
            else:
                spare.append((group, group_rewards))
        needed = max(0, size - len(kept))
        if not enabled or not keep_going(needed > 0 and stats.rounds < max_rounds):
            break
        candidates = refill(needed) if needed else []
    if len(kept) < size:
        filler = spare[: size - len(kept)]
        stats.groups_without_signal_kept = len(filler)
        kept += filler
    stats.groups_dropped = stats.groups_played - len(kept[:size])
    chosen = kept[:size]
    return [g for g, _ in chosen], [r for _, r in chosen], stats


def cycle_examples(examples: Sequence[Group], seed: int) -> Iterator[Group]:
    """Endless seeded passes over ``examples``, reshuffled each pass."""
    if not examples:
        raise ValueError("no example to sample from")
    rng = random.Random(seed)
    order = list(examples)
    while True:
        rng.shuffle(order)
        yield from order
