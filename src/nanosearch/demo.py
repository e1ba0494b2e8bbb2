"""The embedded-default job that ``make demo`` runs: the learning proof on the synthetic world."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from nanosearch.errors import NanosearchError

DEFAULT_RECIPE = Path("recipes/world-demo")


def run_demo(out: Path, recipe: Path = DEFAULT_RECIPE, questions: int | None = None) -> None:
    """Train a world recipe (its world, index and format-only base, then its three stages),
    then evaluate the base and the trained model on the world's test split through the
    evaluation harness and report them side by side. Re-running the demo resumes it."""
    started = time.perf_counter()
    train_demo(out / "train", recipe)
    compare_demo(out / "train", out / "eval", questions)
    typer.echo(f"\ndemo done in {time.perf_counter() - started:.0f} s")


def compare_demo(run: Path, out: Path, questions: int | None = None) -> list[Path]:
    """The base and the trained model of the world run ``run``, each evaluated on its test
    split (the native agent in this process, MCP over stdio to the run's index, greedy, the
    recipe's held-out limits, the offline grader), and one report of both.

    The trained model is ``model/``, the weights as served. World recipes export it without
    YaRN scaling (``export.yarn_factor: null``): YaRN changes short prompts too, and took a
    world run's test EM through the harness from 13.2 % to 9.3 % (docs/learning-proof.md)."""
    from nanosearch.eval.cli_run import EvalOptions, run_from_options
    from nanosearch.eval.report import write_report
    from nanosearch.train.recipe import load_recipe
    from nanosearch.train.summary import heldout_config

    recipe = load_recipe(run / "recipe.yaml")
    if recipe.evaluation is None:
        raise NanosearchError(f"{run}: the demo compares world runs, whose recipe has evaluation")
    limits = heldout_config(recipe)
    test = run / "data" / "test.jsonl"
    runs = []
    for label, model in (("base", run / "base-model"), ("trained", run / "model")):
        typer.echo(f"\nevaluating the {label} model ({model}) on the test split: {test}")
        options = EvalOptions(
            out=out / label,
            model=str(model),
            index=run / "index",
            task="qa",
            data=f"world-test={test}",
            limit=questions,
            temperature=0.0,
            max_tokens=limits.turn_tokens or EvalOptions.max_tokens,
            max_turns=limits.max_turns,
            context_budget=limits.token_budget,
            result_chars=limits.result_chars,
            protocol=limits.protocol,
            resume=True,
            progress=False,
        )
        for line in run_from_options(options):
            typer.echo(line)
        runs.append(out / label)
    written = write_report(runs, out)
    typer.echo(f"\nreport of both: {written[0]}")
    typer.echo(f"learning curve: {run / 'learning.png'}; summary: {run / 'summary.json'}")
    return written


def train_demo(out: Path, recipe: Path) -> Path:
    from nanosearch.train.curriculum import train_recipe

    if not recipe.exists():
        raise NanosearchError(
            f"recipe not found: {recipe} (run the demo from the repository root, or pass --recipe)"
        )
    typer.echo(f"training {recipe} into {out} (three DAPO stages on TRL's GRPOTrainer)")
    started = time.perf_counter()
    result = train_recipe(recipe, out, resume=True, echo=typer.echo)
    typer.echo(f"\ntrained in {time.perf_counter() - started:.0f} s")
    for line in result.summary():
        typer.echo(line)
    return result.model
