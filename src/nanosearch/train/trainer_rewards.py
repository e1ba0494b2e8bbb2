"""Reward functions as TRL calls them: they read what the rollout already computed.

The rollout scores every episode (dynamic sampling needs the rewards before the trainer sees
the batch), so TRL gets one function returning the episode's total, with weight 1, and one per
component with weight 0: TRL then logs every component as ``rewards/<name>/mean`` while only
the total moves the policy. The first function also logs the rollout's diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nanosearch.train.rollout import COMPONENT_PREFIX, METRICS_FIELD, TOTAL_FIELD

RewardFunc = Callable[..., list[float]]


def episode_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    log_metric = kwargs.get("log_metric")
    metrics = kwargs.get(METRICS_FIELD) or [{}]
    if log_metric is not None:
        for name, value in metrics[0].items():
            log_metric(name, value)
    return [float(value) for value in kwargs[TOTAL_FIELD]]


def component_reward(name: str) -> RewardFunc:
    def reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        return [float(value) for value in kwargs[COMPONENT_PREFIX + name]]

    reward.__name__ = name
    reward.__qualname__ = name
    return reward


def trainer_rewards(components: list[str]) -> tuple[list[RewardFunc], list[float]]:
    """The reward functions and weights for ``GRPOTrainer``."""
    functions = [episode_reward, *(component_reward(name) for name in components)]
    return functions, [1.0] + [0.0] * len(components)
