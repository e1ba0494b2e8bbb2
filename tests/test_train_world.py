"""A short run of the world recipe through `nanosearch train`: the world, its index and the
format-only base are built into the run, held-out metrics are logged during each stage, and the
run ends with summary.json and learning.png. Learning itself is shown by the demo and
benchmarks/learning_ablation.py: four steps cannot show it robustly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nanosearch.errors import NanosearchError
from nanosearch.train.curriculum import stage_pool, train_recipe
from nanosearch.train.heldout import read_heldout
from nanosearch.train.metrics import read_metrics, training_records
from nanosearch.train.recipe import load_recipe

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "world-cpu" / "recipe.yaml"


def small_world_recipe(directory: Path) -> Path:
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["world"] = {"seed": 3, "entities": 150}
    recipe["model"]["world_base"] = {}  # the smallest base: this run checks plumbing, not skill
    recipe["training"].update(num_generations=4, per_device_batch_size=8, updates_per_generation=1)
    recipe["evaluation"].update(every_steps=2, dev_questions=16)
    for stage, steps in zip(recipe["stages"], [2, 1, 1], strict=True):
        stage["steps"] = steps
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return directory


@pytest.fixture(scope="module")
def world_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("world-train")
    lines: list[str] = []
    recipe = small_world_recipe(root / "recipe")
    result = train_recipe(recipe, root / "run", echo=lines.append)
    return {"out": root / "run", "lines": lines, "result": result, "recipe": recipe}


@pytest.mark.slow
def test_a_world_run_builds_its_world_index_and_base(world_run: dict[str, Any]) -> None:
    out = world_run["out"]
    assert (out / "world" / "world.json").is_file() and (out / "index" / "manifest.json").is_file()
    assert json.loads((out / "base-model" / "pretraining.json").read_text())["transcripts"] > 0
    assert (out / "data" / "test.jsonl").is_file()


@pytest.mark.slow
def test_held_out_metrics_are_logged_during_and_at_the_end_of_each_stage(
    world_run: dict[str, Any],
) -> None:
    out = world_run["out"]
    steps = [
        [r["step"] for r in read_heldout(out / f"stage-{n}" / "metrics.jsonl")] for n in (1, 2, 3)
    ]
    assert steps == [[2], [1], [1]]
    record = read_heldout(out / "stage-1" / "metrics.jsonl")[0]
    for key in ("exact_match", "f1", "answer_rate", "tool_success", "turns", "searches"):
        assert record[f"heldout/{key}"] >= 0
    assert 0 <= record["heldout/support_recall"] <= 1
    assert "heldout/hops_1/exact_match" in record
    assert list((out / "stage-1" / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_each_held_out_evaluation_keeps_its_episodes(world_run: dict[str, Any]) -> None:
    """``stage-N/heldout-episodes.jsonl``: every dev question of every evaluation, with the
    step, the answer and its exact match, whose mean is the evaluation's logged one; the
    base's, step 0, in ``heldout-episodes-base.jsonl``."""
    out = world_run["out"]
    dev = [json.loads(line) for line in (out / "data" / "dev.jsonl").open()][:16]
    base = json.loads((out / "base-eval.json").read_text())["dev"]
    evaluations = [(out / "heldout-episodes-base.jsonl", [{"step": 0, **base}])]
    for number in (1, 2, 3):
        stage = out / f"stage-{number}"
        evaluations.append(
            (stage / "heldout-episodes.jsonl", read_heldout(stage / "metrics.jsonl"))
        )
    for path, records in evaluations:
        lines = [json.loads(line) for line in path.open()]
        assert {line["step"] for line in lines} == {r["step"] for r in records}
        for record in records:
            record = {k.removeprefix("heldout/"): v for k, v in record.items()}
            episodes = [line for line in lines if line["step"] == record["step"]]
            assert [e["id"] for e in episodes] == [x["id"] for x in dev]
            mean = sum(e["exact_match"] for e in episodes) / len(episodes)
            assert mean == pytest.approx(record["exact_match"])
            support = sum(e["support_found"] for e in episodes) / len(episodes)
            assert support == pytest.approx(record["support_recall"])
            assert all(e["hops"] in (1, 2, 3) and e["model_turns"] for e in episodes)


@pytest.mark.slow
def test_a_world_run_exports_its_weights_without_yarn(world_run: dict[str, Any]) -> None:
    """The world recipes set ``export.yarn_factor: null``: ``model/`` holds the last stage's
    weights with their trained rope settings, which the demo's harness evaluates."""
    out = world_run["out"]
    model = json.loads((out / "model" / "config.json").read_text())
    trained = json.loads((out / "stage-3" / "final" / "config.json").read_text())
    assert "yarn" not in json.dumps(model)
    assert model["max_position_embeddings"] == trained["max_position_embeddings"]
    assert (out / "model" / "model.safetensors").read_bytes() == (
        out / "stage-3" / "final" / "model.safetensors"
    ).read_bytes()
    note = (out / "model" / "SERVING.md").read_text()
    assert "yarn_factor` is null" in note and "--rope-scaling" not in note
    assert "--tool-call-parser" not in note  # an xml-protocol model's calls are in its text
    assert "--protocol xml --result-chars 600" in note
    assert "model: " in "\n".join(world_run["result"].summary())


@pytest.mark.slow
def test_the_base_and_the_exported_model_are_served_with_the_episode_template(
    world_run: dict[str, Any],
) -> None:
    """The demo's harness serves ``base-model/`` and ``model/`` through a chat endpoint, which
    re-renders each turn's context with their chat template: it must be the one that renders
    an episode as training played it."""
    from transformers import AutoTokenizer

    from nanosearch.env.chat import renders_like_training

    out = world_run["out"]
    stock = AutoTokenizer.from_pretrained(out / "world" / "tokenizer")
    assert not renders_like_training(stock)
    for directory in ("base-model", "model"):
        assert renders_like_training(AutoTokenizer.from_pretrained(out / directory)), directory


@pytest.mark.slow
def test_every_episode_a_stage_played_is_logged_with_its_rewards(
    world_run: dict[str, Any],
) -> None:
    """``stage-N/rollouts.jsonl``: each generation batch's kept episodes are the batch TRL
    trained on (their mean total is the logged reward of that step), the groups dynamic
    sampling dropped are there too, marked, and every line is a training question's episode."""
    out = world_run["out"]
    train = {json.loads(line)["id"] for line in (out / "data" / "train.jsonl").open()}
    for number in (1, 2, 3):
        stage = out / f"stage-{number}"
        lines = [json.loads(line) for line in (stage / "rollouts.jsonl").open()]
        records = training_records(read_metrics(stage / "metrics.jsonl"))
        rewards = {r["step"]: r["reward"] for r in records}
        assert sorted({line["step"] for line in lines}) == sorted(rewards)
        for step, logged in rewards.items():
            kept = [line for line in lines if line["step"] == step and line["kept"]]
            assert len(kept) == 8  # per_device_batch_size × updates_per_generation
            assert sum(line["reward"] for line in kept) / len(kept) == pytest.approx(logged)
            dropped = {
                (line["round"], line["group"])
                for line in lines
                if line["step"] == step and not line["kept"]
            }
            for where in dropped:
                group = [
                    line["rewards"]["correctness"]
                    for line in lines
                    if line["step"] == step and (line["round"], line["group"]) == where
                ]
                assert len(set(group)) == 1, "a group with signal was dropped"
        assert {line["id"] for line in lines} <= train
        line = lines[0]
        assert line["gold"] and line["hops"] in (1, 2, 3) and line["relations"]
        assert line["model_turns"] and "prompt_ids" not in line


def test_support_recall_counts_the_supporting_passages_a_result_showed() -> None:
    """Only what the environment showed counts: an id the model itself wrote does not."""
    from nanosearch.protocol import Episode
    from nanosearch.search import Hit
    from nanosearch.tools import format_hits
    from nanosearch.train.heldout import episode_metrics

    system, user = {"role": "system", "content": ""}, {"role": "user", "content": "q"}
    hit = Hit("river-5", "Vouspiasen River", "It flows through Graxesh.", 1.0)
    shown = format_hits("Vouspiasen", [hit])
    found = Episode(question="q", messages=[system, user, {"role": "tool", "content": shown}])
    guessed = Episode(
        question="q", messages=[system, user, {"role": "assistant", "content": "id: river-5"}]
    )
    examples = [
        {"question": "q", "answer": "a", "supporting_ids": ["river-5", "country-2"], "hops": 2},
        {"question": "q", "answer": "a", "supporting_ids": ["river-5"], "hops": 1},
    ]
    metrics = episode_metrics([found, guessed], examples)
    assert metrics["support_recall"] == 0.25
    assert metrics["hops_2/support_recall"] == 0.5
    assert metrics["hops_1/support_recall"] == 0.0
    assert "support_recall" not in episode_metrics([found], [{"question": "q", "answer": "a"}])


@pytest.mark.slow
def test_the_run_summary_has_the_base_each_stage_and_the_final_test(
    world_run: dict[str, Any],
) -> None:
    out = world_run["out"]
    summary = json.loads((out / "summary.json").read_text())
    base = summary["base"]
    assert base["chance"]["level"] <= base["chance"]["bound"]
    assert base["test"]["questions"] == summary["final"]["test"]["questions"] > 0
    assert [s["name"] for s in summary["stages"]] == [
        "tools-and-format",
        "correctness",
        "long-context",
    ]
    assert [p["step"] for p in summary["learning_curve"]] == [0, 2, 3, 4]
    assert (out / "learning.png").stat().st_size > 1000
    for name, metrics in (("base", base["test"]), ("final", summary["final"]["test"])):
        rows = [json.loads(line) for line in (out / f"test-episodes-{name}.jsonl").open()]
        assert len(rows) == metrics["questions"]
        assert sum(r["exact_match"] for r in rows) / len(rows) == metrics["exact_match"]
        assert all(r["gold"] and r["messages"] for r in rows)
    assert any(line.startswith("held-out test EM: base") for line in world_run["result"].summary())
    assert any(line.startswith("stage 1 tools-and-format: step 2/2") for line in world_run["lines"])


def test_a_stage_draws_its_questions_by_hop_weights() -> None:
    recipe = load_recipe(RECIPE)
    train = [{"id": str(i), "question": f"q{i}", "hops": 1 + i % 3} for i in range(300)]
    pool = stage_pool(train, recipe.stages[0], seed=0)
    assert len(pool) == 300 and not any(e["hops"] == 3 for e in pool)
    assert sum(e["hops"] == 1 for e in pool) > 240
    assert stage_pool(train, recipe.stages[0].model_copy(update={"hops": None}), 0) is train


def test_a_stage_without_questions_of_its_hops_is_an_error() -> None:
    recipe = load_recipe(RECIPE)
    with pytest.raises(NanosearchError, match="hop counts"):
        stage_pool([{"id": "a", "question": "q", "hops": 3}], recipe.stages[0], seed=0)


def test_a_world_base_needs_a_world(tmp_path: Path) -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    del recipe["world"]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(NanosearchError, match="world_base needs a 'world' section"):
        load_recipe(tmp_path)


@pytest.mark.slow
def test_the_demo_reports_the_base_and_the_trained_model_on_the_test_split(
    world_run: dict[str, Any], tmp_path: Path
) -> None:
    """`nanosearch demo` on a finished world run (it resumes: every stage is skipped) evaluates
    both models through the evaluation harness, then resumes that too."""
    import shutil

    from tests.test_cli import run as run_cli

    shutil.copytree(world_run["out"], tmp_path / "demo" / "train")
    command = ["demo", "--out", tmp_path / "demo", "--recipe", world_run["recipe"]]
    result = run_cli(*command, "--questions", "3")
    assert result.returncode == 0, result.stderr
    assert "already done, skipped" in result.stdout
    assert "evaluating the base model" in result.stdout
    assert "evaluating the trained model" in result.stdout
    for label in ("base", "trained"):
        record = json.loads((tmp_path / "demo" / "eval" / label / "run.json").read_text())
        assert record["dataset"]["questions"] == 3
        assert record["limits"]["max_turns"] == 4  # the recipe's held-out limits
    report = (tmp_path / "demo" / "eval" / "report.md").read_text()
    assert "base-model" in report and "train/model" in report
    assert report.startswith("# Evaluation report: world-test")  # not SimpleQA's figures
    assert "Published" not in report and "| EM % |" in report  # nor Search-R1's
    again = run_cli(*command, "--questions", "3")
    assert again.returncode == 0, again.stderr
    rows = (tmp_path / "demo" / "eval" / "trained" / "results.jsonl").read_text().splitlines()
    assert len(rows) == 3
