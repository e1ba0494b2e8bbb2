"""Which rewards each training stage uses, with what weight, and the weighted score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nanosearch.errors import NanosearchError
from nanosearch.protocol import Episode
from nanosearch.rewards.functions import (
    RewardFunction,
    correctness,
    correctness_f1,
    format_compliance,
    non_thinking,
    overlong_penalty,
    tool_execution,
    xml_structure,
)

REWARDS: dict[str, RewardFunction] = {
    function.__name__: function
    for function in (
        correctness,
        correctness_f1,
        tool_execution,
        format_compliance,
        xml_structure,
        non_thinking,
        overlong_penalty,
    )
}
DEFAULT_STAGES_FILE = Path(__file__).with_name("stages.yaml")


@dataclass(frozen=True, slots=True)
class Stage:
    rewards: list[tuple[RewardFunction, float]]
    gate: RewardFunction | None = None


@dataclass(frozen=True, slots=True)
class Score:
    """The weighted total and every component (unweighted), for logging."""

    total: float
    components: dict[str, float] = field(default_factory=dict)


def _function(name: Any, where: str) -> RewardFunction:
    if name not in REWARDS:
        raise NanosearchError(
            f"{where}: unknown reward {name!r}; the rewards are: {', '.join(REWARDS)}"
        )
    return REWARDS[name]


def stage_from_config(config: Mapping[str, Any], where: str = "stage") -> Stage:
    """A stage from ``{"weights": {name: weight}, "gate": name}``; errors name the bad key."""
    unknown = set(config) - {"weights", "gate"}
    if unknown:
        raise NanosearchError(
            f"{where}: unknown key {sorted(unknown)[0]!r} (expected weights, gate)"
        )
    weights = config.get("weights") or {}
    if not isinstance(weights, Mapping):
        raise NanosearchError(f"{where}.weights: expected a mapping of reward name to weight")
    rewards = []
    for name, weight in weights.items():
        function = _function(name, f"{where}.weights")
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise NanosearchError(
                f"{where}.weights.{name}: weight must be a number, got {weight!r}"
            )
        rewards.append((function, float(weight)))
    gate = config.get("gate")
    return Stage(rewards, _function(gate, f"{where}.gate") if gate is not None else None)


def load_stages(path: str | Path = DEFAULT_STAGES_FILE) -> dict[int, Stage]:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise NanosearchError(f"{path}: cannot read the reward stages ({error})") from error
    if not isinstance(raw, Mapping):
        raise NanosearchError(f"{path}: expected a mapping of stage number to stage")
    return {
        int(number): stage_from_config(config, f"{path}: stage {number}")
        for number, config in raw.items()
    }


STAGES: dict[int, Stage] = load_stages()


def score(
    episode: Episode,
    example: dict[str, Any],
    stage: int | Stage,
    weights: Mapping[str, float] | None = None,
    functions: Mapping[str, RewardFunction] | None = None,
) -> Score:
    """Score an episode for a stage. ``weights`` overrides or adds reward weights by name;
    ``functions`` replaces reward functions by name (e.g. ``correctness`` in another mode)."""
    chosen = STAGES[stage] if isinstance(stage, int) else stage
    rewards = dict((function.__name__, weight) for function, weight in chosen.rewards)
    for name, weight in (weights or {}).items():
        _function(name, "weights")
        rewards[name] = float(weight)
    chosen_functions = {**REWARDS, **(functions or {})}
    components = {name: chosen_functions[name](episode, example) for name in rewards}
    total = sum(rewards[name] * value for name, value in components.items())
    if chosen.gate is not None:
        gate_value = chosen.gate(episode, example)
        components[chosen.gate.__name__] = gate_value
        if gate_value < 1.0:
            total = min(total, 0.0)
    return Score(total, components)
