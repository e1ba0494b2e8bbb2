"""The ablation benchmark's variants are valid recipes that differ from the shipped one only in
their RL settings (the training itself is the benchmark's, not a test's)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from nanosearch.train.recipe import load_recipe
from nanosearch.train.summary import heldout_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ablation() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "learning_ablation", ROOT / "benchmarks" / "learning_ablation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("recipe", ["world-cpu", "world-demo"])
def test_every_variant_is_a_valid_recipe(ablation: ModuleType, recipe: str, tmp_path: Path):
    base = ROOT / "recipes" / recipe / "recipe.yaml"
    shipped = load_recipe(base)
    for variant in ablation.VARIANTS:
        path = ablation.recipe_for(base, variant, 2, [3], 300, tmp_path / variant)
        loaded = load_recipe(path)
        assert loaded.world == shipped.world.model_copy(update={"entities": 300})
        assert loaded.model == shipped.model
        assert loaded.training.seed == 2
        assert [stage.steps for stage in loaded.stages] == [3] * len(shipped.stages)
        # the base is evaluated once for every variant: their held-out evaluation is the same
        assert loaded.evaluation == shipped.evaluation
        assert heldout_config(loaded) == heldout_config(shipped)


def test_plain_grpo_drops_every_dapo_technique(ablation: ModuleType, tmp_path: Path):
    base = ROOT / "recipes" / "world-cpu" / "recipe.yaml"
    grpo = load_recipe(ablation.recipe_for(base, "grpo", 0, [3], 600, tmp_path))
    assert grpo.dapo.loss_type == "grpo"
    assert grpo.dapo.epsilon == grpo.dapo.epsilon_high
    assert not grpo.dapo.dynamic_sampling
    assert not grpo.dapo.mask_truncated_completions
    assert grpo.training.updates_per_generation == 1
    assert all(stage.rewards["overlong_penalty"] == 0 for stage in grpo.stages)


def test_stage_budgets_must_match_the_recipe(ablation: ModuleType, tmp_path: Path):
    base = ROOT / "recipes" / "world-cpu" / "recipe.yaml"
    with pytest.raises(SystemExit, match="2 budgets"):
        ablation.recipe_for(base, "dapo", 0, [3, 4], 600, tmp_path)


def test_gspo_takes_trl_s_sequence_level_ratio_and_its_clip_range(
    ablation: ModuleType, tmp_path: Path
):
    base = ROOT / "recipes" / "world-demo" / "recipe.yaml"
    gspo = load_recipe(ablation.recipe_for(base, "gspo", 0, [3], 600, tmp_path))
    assert gspo.trl == {"importance_sampling_level": "sequence"}
    assert (gspo.dapo.loss_type, gspo.dapo.epsilon, gspo.dapo.epsilon_high) == ("grpo", 3e-4, 4e-4)
    assert gspo.dapo.dynamic_sampling  # the recipe's other settings stay


def test_variants_are_chosen_by_name(ablation: ModuleType):
    assert ablation.variant_names("grpo, gspo") == ["grpo", "gspo"]
    assert list(ablation.DEFAULT_VARIANTS) == ["dapo", "grpo", "authors"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown variant 'ppo'"):
        ablation.variant_names("dapo,ppo")


def test_a_killed_run_resumes_from_its_checkpoints(
    ablation: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in for ``train_recipe`` (the training is the benchmark's): the first attempt is
    killed after a checkpoint; the second must find that checkpoint and the shared files."""
    from nanosearch.train import curriculum

    shared = tmp_path / "shared"
    (shared / "world").mkdir(parents=True)
    (shared / "world" / "corpus.jsonl").write_text("{}\n")
    (shared / "base-eval.json").write_text("{}")
    base = ROOT / "recipes" / "world-demo" / "recipe.yaml"
    attempts: list[Path] = []

    def killed(recipe: Path, run: Path, resume: bool, echo: object) -> None:
        attempts.append(run)
        (run / "stage-1" / "checkpoint-2").mkdir(parents=True)
        raise KeyboardInterrupt

    def resumed(recipe: Path, run: Path, resume: bool, echo: object) -> None:
        assert resume and (run / "stage-1" / "checkpoint-2").is_dir()
        assert (run / "world" / "corpus.jsonl").is_file() and (run / "base-eval.json").is_file()
        attempts.append(run)
        (run / "summary.json").write_text('{"final": {}}')

    out = tmp_path / "out"
    monkeypatch.setattr(curriculum, "train_recipe", killed)
    with pytest.raises(KeyboardInterrupt):
        ablation.run_variant(base, out, shared, "dapo", 0, [1], 300)
    monkeypatch.setattr(curriculum, "train_recipe", resumed)
    summary, wall = ablation.run_variant(base, out, shared, "dapo", 0, [1], 300)
    assert summary == {"final": {}} and wall >= 0 and len(attempts) == 2
    assert not list((out / "runs").glob("*.partial"))
