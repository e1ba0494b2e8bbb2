"""What a run with held-out evaluation reports: the starting weights' metrics (step 0, with the
chance level of a format-only world base), the final model on the test split, ``summary.json``
and ``learning.png`` (held-out exact match against the step, across every stage)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nanosearch.env import ChatFormat, EnvConfig
from nanosearch.files import write_json, write_jsonl
from nanosearch.protocol import Episode
from nanosearch.rewards.answers import exact_match, gold_answers
from nanosearch.tools import EngineTools
from nanosearch.train.heldout import PREFIX, episode_lines, evaluate_policy, read_heldout
from nanosearch.train.metrics import METRICS_FILE
from nanosearch.train.recipe import Recipe
from nanosearch.world.base import base_draws, base_record
from nanosearch.world.transcripts import FormatOnlySettings

BASE_FILE = "base-eval.json"
BASE_EPISODES = "test-episodes-base.jsonl"
BASE_HELDOUT_EPISODES = "heldout-episodes-base.jsonl"
FINAL_EPISODES = "test-episodes-final.jsonl"
SUMMARY_FILE = "summary.json"
LEARNING_PLOT = "learning.png"
Say = Callable[[str], None]


def heldout_config(recipe: Recipe) -> EnvConfig:
    evaluation = recipe.evaluation
    assert evaluation is not None
    return EnvConfig(
        max_turns=evaluation.max_turns,
        token_budget=evaluation.context_tokens,
        result_chars=recipe.generation.result_chars,
        turn_tokens=recipe.generation.turn_tokens,
        protocol=recipe.protocol,
    )


def evaluate_checkpoint(
    path: str,
    engine: Any,
    examples: list[dict[str, Any]],
    config: EnvConfig,
) -> tuple[dict[str, Any], list[Episode]]:
    """Held-out metrics of the weights at ``path``, and their episodes."""
    from nanosearch.models import load_model

    model, tokenizer = load_model(path)
    chat = ChatFormat.from_tokenizer(tokenizer)
    return evaluate_policy(model, tokenizer, chat, EngineTools(engine), examples, config)


def evaluate_test(
    path: str, engine: Any, tests: list[dict[str, Any]], config: EnvConfig, episodes_to: Path
) -> dict[str, Any]:
    """Test-split metrics of the weights at ``path``; every episode (the question's id, gold
    answers and exact match with the whole transcript) goes to ``episodes_to`` as JSONL."""
    metrics, episodes = evaluate_checkpoint(path, engine, tests, config)
    write_jsonl(episodes_to, episode_rows(episodes, tests))
    return metrics


def episode_rows(
    episodes: list[Episode], examples: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    for episode, example in zip(episodes, examples, strict=True):
        gold = gold_answers(example)
        yield {
            "id": example.get("id"),
            "hops": example.get("hops"),
            "gold": gold,
            "exact_match": exact_match(episode.answer or "", gold),
            **episode.to_dict(),
        }


def chance_level(
    world: Path,
    engine: Any,
    examples: list[dict[str, Any]],
    config: EnvConfig,
    seed: int = 0,
    draws: FormatOnlySettings | None = None,
) -> dict[str, float]:
    """Exact match of the base's own transcript distribution (its ``draws``) on ``examples``
    (``level``), and of a uniform answer after oracle queries for the supporting passages
    (``bound``): both the exact expectation over the answer draw, averaged over the questions."""
    from transformers import AutoTokenizer

    from nanosearch.world import read_description
    from nanosearch.world.base import format_only_episodes
    from nanosearch.world.transcripts import MentionFinder, uniform_answer_chance

    description = read_description(world)
    chat = ChatFormat.from_tokenizer(AutoTokenizer.from_pretrained(world / "tokenizer"))
    finder = MentionFinder(description["mentions"])
    found = {}
    for name, titles in (("level", None), ("bound", description["titles"])):
        _, pools = format_only_episodes(
            examples,
            EngineTools(engine),
            chat,
            finder,
            max_turns=config.max_turns,
            token_budget=config.token_budget,
            result_chars=config.result_chars,
            seed=seed,
            titles=titles,
            settings=draws,
        )
        found[name] = uniform_answer_chance(
            [(pool, gold_answers(example)) for pool, example in zip(pools, examples, strict=True)]
        )
    return found


def base_chance(
    model: str | Path,
    world: Path,
    engine: Any,
    examples: list[dict[str, Any]],
    config: EnvConfig,
) -> dict[str, float] | None:
    """The chance level and bound of a format-only base's own draws; None for a model
    :func:`~nanosearch.world.base.pretrain_base` did not make, whose answers were never drawn
    from its results."""
    if base_record(model) is None:
        return None
    return chance_level(world, engine, examples, config, draws=base_draws(model))


def evaluate_base(
    recipe: Recipe,
    out: Path,
    start: str,
    engine: Any,
    dev: list[dict[str, Any]],
    tests: list[dict[str, Any]],
    world: Path | None,
    say: Say,
) -> dict[str, Any]:
    """Held-out metrics of the starting weights (written once; a resumed run reads them)."""
    path = out / BASE_FILE
    if path.is_file():
        return json.loads(path.read_text())
    assert recipe.evaluation is not None
    config = heldout_config(recipe)
    started = time.perf_counter()
    dev = dev[: recipe.evaluation.dev_questions]
    metrics, episodes = evaluate_checkpoint(start, engine, dev, config)
    write_jsonl(out / BASE_HELDOUT_EPISODES, episode_lines(episodes, dev, step=0))
    found: dict[str, Any] = {"model": start, "dev": metrics}
    if tests:
        found["test"] = evaluate_test(start, engine, tests, config, out / BASE_EPISODES)
    if world is not None and tests and (chance := base_chance(start, world, engine, tests, config)):
        found["chance"] = chance
    found["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(path, found)
    line = f"base: held-out dev EM {found['dev']['exact_match']:.1%}"
    if "test" in found:
        line += f", test EM {found['test']['exact_match']:.1%}"
    if "chance" in found:
        chance = found["chance"]
        line += f" (chance level {chance['level']:.1%}, bound {chance['bound']:.1%})"
    say(line)
    return found


def stage_offsets(recipe: Recipe) -> list[int]:
    offsets, total = [], 0
    for stage in recipe.stages:
        offsets.append(total)
        total += stage.steps
    return offsets


def learning_curve(recipe: Recipe, out: Path) -> list[dict[str, Any]]:
    """Every held-out evaluation of the run by global step; the base is step 0."""
    points = []
    base = out / BASE_FILE
    if base.is_file():
        points.append({"step": 0, "stage": "base", **json.loads(base.read_text())["dev"]})
    for number, (stage, offset) in enumerate(
        zip(recipe.stages, stage_offsets(recipe), strict=True), start=1
    ):
        for record in read_heldout(out / f"stage-{number}" / METRICS_FILE):
            metrics = {k.removeprefix(PREFIX): v for k, v in record.items() if k.startswith(PREFIX)}
            points.append({"step": offset + record["step"], "stage": stage.name, **metrics})
    return points


def plot_learning(recipe: Recipe, points: list[dict[str, Any]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.2))
    series = [("exact_match", "all", 2.4)] + [
        (f"hops_{h}/exact_match", f"{h}-hop", 1.2) for h in (1, 2, 3)
    ]
    for key, label, width in series:
        xy = [(p["step"], p[key]) for p in points if p.get(key) is not None]
        if xy:
            steps, values = zip(*xy, strict=True)
            axis.plot(steps, values, marker="o", markersize=3, linewidth=width, label=label)
    for stage, offset in zip(recipe.stages, stage_offsets(recipe), strict=True):
        axis.axvline(offset, color="grey", alpha=0.3, linewidth=0.8)
        axis.text(offset, 1.01, stage.name, fontsize=7, transform=axis.get_xaxis_transform())
    axis.set_xlabel("training step (all stages; 0 = the base)")
    axis.set_ylabel("held-out exact match (dev)")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def finish(
    recipe: Recipe,
    out: Path,
    final: str,
    engine: Any,
    tests: list[dict[str, Any]],
    say: Say,
) -> list[str]:
    """Evaluate the final weights on the test split; write ``summary.json`` and the plot."""
    base = json.loads((out / BASE_FILE).read_text())
    config = heldout_config(recipe)
    points = learning_curve(recipe, out)
    stages = []
    for stage in recipe.stages:
        last = [p for p in points if p["stage"] == stage.name]
        stages.append({"name": stage.name, "steps": stage.steps, "dev": last[-1] if last else None})
    summary: dict[str, Any] = {
        "base": base,
        "stages": stages,
        "final": {"model": final},
        "learning_curve": points,
    }
    if tests:
        summary["final"]["test"] = evaluate_test(final, engine, tests, config, out / FINAL_EPISODES)
    write_json(out / SUMMARY_FILE, summary)
    plot = plot_learning(recipe, points, out / LEARNING_PLOT)
    lines = []
    if tests and "test" in base:
        before, after = base["test"], summary["final"]["test"]
        by_hops = ", ".join(
            f"{h}-hop {before.get(f'hops_{h}/exact_match', 0):.1%} → "
            f"{after.get(f'hops_{h}/exact_match', 0):.1%}"
            for h in (1, 2, 3)
            if f"hops_{h}/exact_match" in after
        )
        lines.append(
            f"held-out test EM: base {before['exact_match']:.1%} → trained "
            f"{after['exact_match']:.1%}" + (f" ({by_hops})" if by_hops else "")
        )
        say(lines[-1])
    lines += [f"summary: {out / SUMMARY_FILE}", f"learning curve: {plot}"]
    return lines
