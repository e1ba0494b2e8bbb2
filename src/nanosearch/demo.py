"""The embedded-default job that ``make demo`` runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from nanosearch.assets import MUSIQUE_SAMPLE
from nanosearch.corpus import content_id, read_corpus
from nanosearch.errors import NanosearchError
from nanosearch.search import build_index

TOP_K = 5


DEFAULT_RECIPE = Path("recipes/tiny-cpu")


def run_demo(out: Path, questions: int = 5, recipe: Path | None = DEFAULT_RECIPE) -> None:
    """Index the bundled MuSiQue sample and show what the search tool returns for sample
    questions, then train ``recipe`` through its stages (resuming a previous demo run)."""
    search_demo(out, questions)
    if recipe is not None:
        model = train_demo(out / "train", recipe)
        eval_demo(out / "eval", model, out / "index")


EVAL_QUESTIONS = 5


def eval_demo(out: Path, model: Path, index: Path, questions: int = EVAL_QUESTIONS) -> None:
    """A small SimpleQA run of the trained model, in process, with the native runtime reaching
    the index through MCP over stdio, graded offline; then its report. Re-running the demo
    resumes it."""
    from nanosearch.eval.cli_run import EvalOptions, run_from_options
    from nanosearch.eval.report import write_report

    typer.echo(
        f"\nevaluating {model} on {questions} SimpleQA questions (native agent, MCP over stdio, "
        "offline grader)"
    )
    options = EvalOptions(
        out=out,
        model=str(model),
        index=index,
        limit=questions,
        max_turns=3,
        max_tokens=64,
        concurrency=1,
        resume=True,
    )
    for line in run_from_options(options):
        typer.echo(line)
    for path in write_report([out], out):
        typer.echo(f"report: {path}")


def train_demo(out: Path, recipe: Path) -> Path:
    from nanosearch.train.curriculum import train_recipe

    if not recipe.exists():
        raise NanosearchError(
            f"recipe not found: {recipe} (run the demo from the repository root, or pass --recipe)"
        )
    typer.echo(f"\ntraining {recipe} into {out} (three DAPO stages on TRL's GRPOTrainer)")
    started = time.perf_counter()
    result = train_recipe(recipe, out, resume=True)
    typer.echo(f"\ntrained in {time.perf_counter() - started:.0f} s")
    for line in result.summary():
        typer.echo(line)
    return result.model


def search_demo(out: Path, questions: int = 5) -> None:
    """Index the bundled MuSiQue sample, then search each sample question and report recall@5
    of its supporting paragraphs: a first look at what the agent's search tool returns."""
    started = time.perf_counter()
    index_dir = out / "index"
    engine = build_index(
        read_corpus(MUSIQUE_SAMPLE, "musique"),
        index_dir,
        corpus_info={"path": MUSIQUE_SAMPLE.name, "format": "musique"},
    )
    typer.echo(
        f"indexed {len(engine)} MuSiQue paragraphs into {index_dir} "
        f"in {time.perf_counter() - started:.1f} s\n"
    )
    records = [json.loads(line) for line in MUSIQUE_SAMPLE.read_text().splitlines()[:questions]]
    found = wanted = 0
    for record in records:
        supporting = {
            content_id("musique", p["title"], p["paragraph_text"])
            for p in record["paragraphs"]
            if p["is_supporting"]
        }
        hits = engine.search([record["question"]], k=TOP_K)[0]
        typer.echo(f"Q: {record['question']}  (answer: {record['answer']})")
        for rank, hit in enumerate(hits, start=1):
            mark = "*" if hit.id in supporting else " "
            typer.echo(f"  {mark}{rank}. {hit.title}: {hit.snippet[:90]}")
        found += sum(hit.id in supporting for hit in hits)
        wanted += len(supporting)
        typer.echo("")
    typer.echo(
        f"supporting paragraphs (*) in the top {TOP_K}: {found} of {wanted} "
        f"for {len(records)} questions; index at {index_dir}"
    )
    typer.echo(f'try: nanosearch search --index {index_dir} "your question"')
