"""Recipes that ``extends`` another: merged section by section, stages updated by name,
inherited paths still naming the inherited recipe's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from nanosearch.errors import NanosearchError
from nanosearch.train import load_recipe
from nanosearch.train.recipe_files import merge_recipe, read_recipe_mapping

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
STAGES = [
    {"name": "first", "context_tokens": 900, "max_turns": 3, "steps": 4},
    {"name": "second", "context_tokens": 900, "max_turns": 3, "steps": 4},
]


def write(path: Path, recipe: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    recipe = {
        "model": {"tiny": {}, "tokenizer": "bundled"},
        "dapo": {"epsilon": 0.2, "epsilon_high": 0.28, "beta": 0.0},
        "export": {"yarn_factor": 4.0},
        "data": {"mixture": {2: 10, 3: 5}},
        "stages": STAGES,
    }
    return write(tmp_path / "base" / "recipe.yaml", recipe)


def test_the_demo_recipe_is_world_cpu_with_shorter_stages() -> None:
    full, demo = load_recipe(RECIPES / "world-cpu"), load_recipe(RECIPES / "world-demo")
    assert [s.steps for s in demo.stages] == [10, 6, 6]
    assert demo.evaluation is not None and demo.evaluation.dev_questions == 64
    pairs = zip(full.stages, demo.stages, strict=True)
    shortened = [s.model_copy(update={"steps": d.steps}) for s, d in pairs]
    assert demo.stages == shortened
    assert demo.evaluation == full.evaluation.model_copy(update={"dev_questions": 64})
    for section in ("model", "world", "dapo", "generation", "training", "export", "overlong"):
        assert getattr(demo, section) == getattr(full, section), section


def test_the_authors_recipe_keeps_the_paper_recipe_s_files() -> None:
    paper, authors = (
        load_recipe(RECIPES / "jan-nano-4b"),
        load_recipe(RECIPES / "jan-nano-4b-authors"),
    )
    assert authors.resolve(authors.training.deepspeed) == paper.resolve(paper.training.deepspeed)
    assert Path(authors.resolve(authors.training.deepspeed)).is_file()
    data = (RECIPES / "jan-nano-4b" / paper.data.musique).resolve()
    assert (authors.base_dir / authors.data.musique).resolve() == data
    assert (authors.base_dir / authors.index.corpus).resolve() == data
    assert authors.model.name_or_path == paper.model.name_or_path == "Qwen/Qwen3-4B"


def test_an_extending_recipe_overrides_key_by_key(tmp_path: Path, parent: Path) -> None:
    child = write(
        tmp_path / "child" / "recipe.yaml",
        {
            "extends": "../base",
            "dapo": {"beta": 0.01},
            "export": {"yarn_factor": None},
            "data": {"mixture": {2: 3}},
            "stages": {"second": {"steps": 9, "rewards": {"format_compliance": 0.1}}},
        },
    )
    recipe = load_recipe(child)
    assert (recipe.dapo.epsilon, recipe.dapo.epsilon_high, recipe.dapo.beta) == (0.2, 0.28, 0.01)
    assert recipe.export.yarn_factor is None
    assert recipe.data.mixture == {2: 3, 3: 5}  # a mapping merges key by key, as sections do
    assert [(s.name, s.steps) for s in recipe.stages] == [("first", 4), ("second", 9)]
    assert recipe.stages[1].rewards == {"format_compliance": 0.1}
    assert recipe.base_dir == child.parent.resolve()


def test_a_chain_of_recipes_merges_in_order(tmp_path: Path, parent: Path) -> None:
    write(tmp_path / "middle.yaml", {"extends": "base/recipe.yaml", "dapo": {"beta": 0.01}})
    last = write(tmp_path / "last.yaml", {"extends": "middle.yaml", "dapo": {"epsilon": 0.1}})
    dapo = load_recipe(last).dapo
    assert (dapo.epsilon, dapo.epsilon_high, dapo.beta) == (0.1, 0.28, 0.01)


def test_a_list_of_stages_replaces_the_inherited_ones(tmp_path: Path, parent: Path) -> None:
    child = write(tmp_path / "c.yaml", {"extends": "base", "stages": [STAGES[1]]})
    assert [s.name for s in load_recipe(child).stages] == ["second"]


def test_inherited_paths_name_the_inherited_recipe_s_files(tmp_path: Path) -> None:
    base = tmp_path / "deep" / "base"
    write(base / "deepspeed.json", {})
    write(
        base / "recipe.yaml",
        {
            "model": {"name_or_path": "Qwen/Qwen3-4B"},
            "data": {"musique": "musique/train.jsonl"},
            "index": {"corpus": "musique/train.jsonl"},
            "training": {"deepspeed": "deepspeed.json"},
            "stages": STAGES,
        },
    )
    child = write(
        tmp_path / "other" / "recipe.yaml",
        {"extends": "../deep/base", "model": {"tokenizer": "tok"}},
    )
    raw = read_recipe_mapping(child)
    assert raw["model"] == {"name_or_path": "Qwen/Qwen3-4B", "tokenizer": "tok"}
    for value in (raw["data"]["musique"], raw["index"]["corpus"]):
        assert (child.parent / value).resolve() == (base / "musique" / "train.jsonl").resolve()
    recipe = load_recipe(child)
    assert recipe.resolve(recipe.training.deepspeed) == str((base / "deepspeed.json").resolve())


@pytest.mark.parametrize(
    ("own", "problem"),
    [
        (
            {"extends": "missing"},
            r"recipe not found: .*child/missing \(extended by .*recipe.yaml\)",
        ),
        ({"extends": 3}, "extends: expected the path of a recipe, got 3"),
        ({"extends": "recipe.yaml"}, "a recipe cannot extend itself"),
        ({"extends": "../base", "stages": {"third": {"steps": 1}}}, r"stages.third: no inherited"),
        ({"extends": "../base", "stages": {"first": 3}}, "stages.first: expected the keys"),
        ({"extends": "../base", "dapo": {"bta": 1}}, r"dapo.bta: unknown key"),
    ],
)
def test_a_bad_extension_fails_naming_the_problem(
    tmp_path: Path, parent: Path, own: dict[str, Any], problem: str
) -> None:
    child = write(tmp_path / "child" / "recipe.yaml", own)
    with pytest.raises(NanosearchError, match=problem):
        load_recipe(child)


def test_two_recipes_extending_each_other_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(NanosearchError, match=r"cannot extend itself \(.*a.yaml → .*b.yaml → "):
        load_recipe(tmp_path / "a.yaml")


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4))
trees = st.recursive(
    scalars,
    lambda children: (
        st.dictionaries(st.sampled_from("abcd"), children, max_size=3)
        | st.lists(children, max_size=2)
    ),
    max_leaves=8,
)
mappings = st.dictionaries(st.sampled_from(["model", "dapo", "x", "y"]), trees, max_size=4)


def leaves(tree: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(tree, dict) and tree:
        found: dict[tuple[str, ...], Any] = {}
        for key, value in tree.items():
            found.update(leaves(value, (*prefix, key)))
        return found
    return {prefix: tree}


@given(mappings, mappings)
def test_a_merge_keeps_every_own_value_and_every_unshadowed_inherited_one(
    inherited: dict[str, Any], own: dict[str, Any]
) -> None:
    merged = leaves(merge_recipe(inherited, own, Path("r.yaml")))
    own_leaves = leaves(own)
    for path, value in own_leaves.items():
        if value != {}:  # an empty mapping changes nothing it is merged into
            assert merged[path] == value
    for path, value in leaves(inherited).items():
        if not any(path[: len(p)] == p or p[: len(path)] == path for p in own_leaves):
            assert merged[path] == value


def test_a_recipe_as_written_into_a_run_loads_from_there(tmp_path: Path) -> None:
    """The copy of the recipe in a run directory names the recipe's own files."""
    paper = load_recipe(RECIPES / "jan-nano-4b-authors")
    copy = write(tmp_path / "run" / "recipe.yaml", paper.as_written())
    again = load_recipe(copy)
    assert again.resolve(again.training.deepspeed) == paper.resolve(paper.training.deepspeed)
    assert Path(again.resolve(again.training.deepspeed)).is_file()
    assert again.model.name_or_path == "Qwen/Qwen3-4B"
    data = RECIPES / "jan-nano-4b" / "musique" / "musique_ans_v1.0_train.jsonl"
    assert again.data.musique == again.index.corpus == str(data.resolve())  # not downloaded yet
    with_paths = {"training", "data", "index"}
    assert again.model_dump(exclude=with_paths) == paper.model_dump(exclude=with_paths)
