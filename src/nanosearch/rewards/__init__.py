"""Verifiable rewards, plain functions ``(episode, example) -> float``, and the stages that weigh
them. No heavy imports: this package loads in milliseconds."""

from nanosearch.rewards.answers import (
    cover_match,
    exact_match,
    gold_answers,
    normalize_answer,
    token_f1,
)
from nanosearch.rewards.functions import (
    RewardFunction,
    correctness,
    correctness_f1,
    correctness_function,
    format_compliance,
    non_thinking,
    overlong_penalty,
    soft_overlong,
    tool_execution,
    xml_structure,
)
from nanosearch.rewards.stages import (
    REWARDS,
    STAGES,
    Score,
    Stage,
    load_stages,
    score,
    stage_from_config,
)

__all__ = [
    "REWARDS",
    "STAGES",
    "RewardFunction",
    "Score",
    "Stage",
    "correctness",
    "correctness_f1",
    "correctness_function",
    "cover_match",
    "exact_match",
    "format_compliance",
    "gold_answers",
    "load_stages",
    "non_thinking",
    "normalize_answer",
    "overlong_penalty",
    "score",
    "soft_overlong",
    "stage_from_config",
    "token_f1",
    "tool_execution",
    "xml_structure",
]
