"""A base pretrained on fresh worlds: the shared tokenizer every world gets, first queries that
name the question's subject, and a base that never sees the task world."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from nanosearch.errors import NanosearchError
from nanosearch.world import build_world, generate_world, read_description
from nanosearch.world.base import (
    BaseSettings,
    TranscriptSource,
    bundled_base,
    check_base_world,
    pretrain_base,
    tokenizer_fingerprint,
)
from nanosearch.world.files import write_world
from nanosearch.world.generator import ORG_WORDS, lexicon_capacity
from nanosearch.world.names import NameMaker, lexicon
from nanosearch.world.transcripts import FormatOnlyPolicy, FormatOnlySettings, MentionFinder


@pytest.fixture(scope="module")
def shared_worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shared")
    return (
        build_world(3, 60, root / "three", tokenizer="shared"),
        build_world(4, 60, root / "four", tokenizer="shared"),
    )


def test_the_shared_tokenizer_is_every_worlds_and_spells_each_lexicon_word_as_one_token(
    shared_worlds: tuple[Path, Path],
) -> None:
    from transformers import AutoTokenizer

    three, four = shared_worlds
    assert tokenizer_fingerprint(three / "tokenizer") == tokenizer_fingerprint(four / "tokenizer")
    assert read_description(three)["tokenizer"] == "shared"
    assert read_description(three)["names"] == "lexicon"
    tokenizer = AutoTokenizer.from_pretrained(three / "tokenizer")
    words = {w for kind in lexicon().values() for w in kind}
    assert all(len(tokenizer.encode(w, add_special_tokens=False)) == 1 for w in words)
    titles = {read_description(w)["titles"]["world-city-0000"] for w in (three, four)}
    assert titles <= words and len(titles) == 2  # two worlds, two draws from the lexicon
    fixed = {"River", "Republic", "of", *ORG_WORDS}
    for name in read_description(three)["titles"].values():
        assert set(name.split()) <= words | fixed
    own = build_world(3, 60, three.parent / "own")
    assert "tokenizer" not in read_description(own)
    with pytest.raises(NanosearchError, match="shared tokenizer"):
        build_world(3, 60, three)  # an own-tokenizer world where a shared one is
    with pytest.raises(NanosearchError, match="names are invented"):
        write_world(generate_world(3, 60), three.parent / "mixed", tokenizer="shared")


def test_a_lexicon_world_is_deterministic_and_names_what_it_runs_out_of() -> None:
    first, again = generate_world(5, 80, names="lexicon"), generate_world(5, 80, names="lexicon")
    assert first.passages == again.passages and first.questions == again.questions
    assert first.names == "lexicon" and generate_world(5, 80).names == "invented"
    most = lexicon_capacity()
    assert len(generate_world(5, most, names="lexicon").entities) == most
    with pytest.raises(ValueError, match=f"at most {most} entities, got {most + 1}"):
        generate_world(5, most + 1, names="lexicon")
    maker = NameMaker(random.Random(0), {"country": ("Aland",)})
    assert maker.draw("country") == "Aland"
    with pytest.raises(ValueError, match="lexicon has 1 country names"):
        maker.draw("country")
    with pytest.raises(ValueError, match="names must be one of invented, lexicon"):
        generate_world(5, 80, names="borrowed")


@pytest.mark.parametrize("chance", [0.0, 1.0])
def test_a_first_query_names_the_question_with_its_chance(
    chance: float, shared_worlds: tuple[Path, Path]
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(shared_worlds[0] / "tokenizer")
    world = generate_world(3, 60, names="lexicon")
    finder = MentionFinder(world.mentions())
    questions = [q["question"] for q in world.questions["train"] if finder.names_in(q["question"])]
    settings = FormatOnlySettings(question_name=chance)
    policy = FormatOnlyPolicy(tokenizer, [], finder, max_turns=1, seed=5, settings=settings)
    spans = FormatOnlyPolicy(tokenizer, [], finder, max_turns=1, seed=5)
    for question in questions[:50]:
        query = policy.question_query(question)
        if chance:
            assert query in finder.names_in(question)
        else:  # draws exactly what the spans alone draw: older transcripts are unchanged
            assert query == spans.question_span(question)


def never_played() -> Iterator[TranscriptSource]:
    """Transcript sources that fail the test when pretraining reaches them."""
    raise AssertionError("transcripts were played before the settings were checked")
    yield


def test_a_base_of_fresh_worlds_never_sees_the_task_world(
    shared_worlds: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nanosearch.assets
    from nanosearch.train.base_worlds import pretraining_sources

    three, _ = shared_worlds
    settings = BaseSettings(
        worlds=2,
        world_entities=60,
        question_name=0.5,
        batch_size=32,
        learn="all",
        answer_weight=10,
        shorter_results=(100,),
        copy_spans=2,
    )
    base = pretrain_base(
        pretraining_sources(settings, tmp_path / "scratch"),
        three / "tokenizer",
        tmp_path / "bases" / "fresh",
        settings,
    )
    record = json.loads((base / "pretraining.json").read_text())
    questions = sum(
        len(generate_world(s, 60, names="lexicon").questions["train"]) for s in (10_000, 10_001)
    )
    assert record["transcripts"] == questions
    assert record["world"] is None and "seeds 10000 to 10001" in record["what_it_saw"]
    assert "every token after the system prompt" in record["what_it_saw"]
    assert "the final answer's tokens weighted ×10" in record["what_it_saw"]
    assert "results cut at 100 or 600 characters" in record["what_it_saw"]
    assert record["settings"]["shorter_results"] == [100]
    assert "2 rows of 40 random tokens said twice" in record["what_it_saw"]
    assert record["loss_last"] < record["loss_first"]
    monkeypatch.setattr(nanosearch.assets, "WORLD_BASES", tmp_path / "bases")
    tokenizer = tokenizer_fingerprint(three / "tokenizer")
    assert bundled_base(tokenizer, settings) == base
    assert bundled_base("0" * 64, settings) is None
    assert bundled_base(tokenizer, BaseSettings(worlds=3, world_entities=60)) is None
    # A base continued from the shipped one starts from its weights and says what both saw.
    further = replace(
        settings, worlds=1, seed=1, start_from="fresh", answer_unasked=True, shorter_results=()
    )
    continued = pretrain_base(
        pretraining_sources(further, tmp_path / "scratch"),
        three / "tokenizer",
        tmp_path / "bases" / "continued",
        further,
    )
    again = json.loads((continued / "pretraining.json").read_text())
    assert again["what_it_saw"].startswith("the base fresh, which saw format-only transcripts")
    assert "leaving out the names and values the question itself holds" in again["what_it_saw"]
    # its first loss is where the shipped base's pretraining ended, not where random weights start
    assert (
        abs(again["loss_first"] - record["loss_last"])
        < 0.1
        < (record["loss_first"] - again["loss_first"])
    )
    assert bundled_base(tokenizer, further) == continued
    own = build_world(3, 60, tmp_path / "own")
    # a wrong start is refused before any transcript is played (minutes, at a recipe's size)
    for wrong, tokenizer, error in (
        (replace(further, hidden_size=32), three, "another shape: hidden_size 64 .settings: 32."),
        (replace(further, start_from="nothing"), three, "neither a shipped base .continued, fre"),
        (further, own, "start_from 'fresh' was not pretrained with the tokenizer .*own"),
    ):
        with pytest.raises(NanosearchError, match=error):
            pretrain_base(never_played(), tokenizer / "tokenizer", tmp_path / "x", wrong)
    with pytest.raises(ValueError, match="learn must be one of turns, all"):
        pretrain_base(never_played(), three / "tokenizer", tmp_path / "x", BaseSettings(learn="x"))
    check_base_world(base, three)
    with pytest.raises(NanosearchError, match="fresh was not pretrained with the tokenizer .*own"):
        check_base_world(base, own)
    check_base_world(tmp_path / "bases", own)  # a model pretrain_base did not make


def test_a_world_base_of_fresh_worlds_needs_the_shared_tokenizer_and_another_seed(
    tmp_path: Path,
) -> None:
    from nanosearch.train.curriculum import prepare_model
    from nanosearch.train.recipe import load_recipe

    root = Path(__file__).resolve().parents[1] / "recipes" / "world-cpu" / "recipe.yaml"
    shipped = yaml.safe_load(root.read_text())
    assert shipped["model"]["world_base"]["worlds"] > 0

    def written(name: str, world: dict[str, Any], **base: Any) -> Path:
        recipe = copy.deepcopy(shipped)
        recipe["world"] = world
        recipe["model"]["world_base"].update(base)
        (tmp_path / name).write_text(yaml.safe_dump(recipe))
        return tmp_path / name

    with pytest.raises(Exception, match="world.tokenizer: shared"):
        load_recipe(written("own.yaml", {"seed": 0, "entities": 600}))
    most, shared = lexicon_capacity(), {"seed": 0, "entities": 600, "tokenizer": "shared"}
    too_many = {
        "world.entities": written("many.yaml", {**shared, "entities": most + 1}),
        "model.world_base.world_entities": written(
            "many-fresh.yaml", shared, world_entities=most + 1
        ),
    }
    for where, path in too_many.items():
        with pytest.raises(Exception, match=f"{where}: .* at most {most} entities"):
            load_recipe(path)
    recipe = load_recipe(written("clash.yaml", {**shared, "seed": 10001}))
    with pytest.raises(NanosearchError, match="seed 10001 is one of the fresh worlds"):
        prepare_model(recipe, tmp_path / "base", world=tmp_path, train=[], engine=None)


def test_the_world_command_names_an_unknown_tokenizer(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nanosearch.cli import app

    found = CliRunner().invoke(
        app, ["world", "--out", str(tmp_path / "w"), "--entities", "60", "--tokenizer", "bpe"]
    )
    assert found.exit_code != 0
    assert "tokenizer must be one of own, shared, not 'bpe'" in found.output
