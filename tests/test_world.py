"""The synthetic world: deterministic per seed, split by subject entity, a tokenizer whose
protocol tags are single tokens, format-only transcripts that never look at the gold answer, and
a base model under its chance bound."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nanosearch.cli import app
from nanosearch.corpus import read_corpus
from nanosearch.env import ChatFormat
from nanosearch.errors import NanosearchError
from nanosearch.rewards.answers import gold_answers
from nanosearch.search import SearchEngine, build_index
from nanosearch.tools import EngineTools, shown_ids
from nanosearch.world import build_world, generate_world, read_description, read_questions
from nanosearch.world.base import (
    BaseSettings,
    TranscriptSource,
    base_draws,
    check_base_world,
    format_only_episodes,
    pretrain_base,
    world_fingerprint,
)
from nanosearch.world.generator import HOP_SHARES, KINDS
from nanosearch.world.tokenizer import PROTOCOL_TAGS, SPECIAL_TOKENS
from nanosearch.world.transcripts import (
    RESULT,
    TOP_ENTRY,
    FormatOnlySettings,
    MentionFinder,
    uniform_answer_chance,
)

ENTITIES = 150


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(3, ENTITIES, tmp_path_factory.mktemp("world") / "w")


@pytest.fixture(scope="module")
def world_engine(world_dir: Path) -> SearchEngine:
    return build_index(
        read_corpus(world_dir / "corpus.jsonl", progress=False), world_dir / "index", progress=False
    )


@pytest.fixture(scope="module")
def world_tokenizer(world_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(world_dir / "tokenizer")


PlayTranscripts = Callable[..., tuple[list[Any], list[list[str]]]]


@pytest.fixture(scope="module")
def finder(world_dir: Path) -> MentionFinder:
    return MentionFinder(read_description(world_dir)["mentions"])


@pytest.fixture(scope="module")
def play(
    world_engine: SearchEngine, world_tokenizer: Any, finder: MentionFinder
) -> PlayTranscripts:
    """Format-only transcripts of questions played in the module's world (3 turns, 1,280
    tokens, results of ``result_chars``): the episodes and each answer's candidates."""
    chat = ChatFormat.from_tokenizer(world_tokenizer)

    def played(
        questions: list[dict[str, Any]],
        settings: FormatOnlySettings,
        *,
        seed: int = 0,
        result_chars: int = 600,
        titles: dict[str, str] | None = None,
    ) -> tuple[list[Any], list[list[str]]]:
        return format_only_episodes(
            questions,
            EngineTools(world_engine),
            chat,
            finder,
            max_turns=3,
            token_budget=1280,
            result_chars=result_chars,
            seed=seed,
            titles=titles,
            settings=settings,
        )

    return played


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    first, again, other = generate_world(5, 120), generate_world(5, 120), generate_world(6, 120)
    assert first.passages == again.passages and first.questions == again.questions
    assert first.passages != other.passages


def test_the_world_has_five_kinds_and_passages_with_titles(world_dir: Path) -> None:
    description = read_description(world_dir)
    assert set(description["entities_by_kind"]) == set(KINDS)
    passages = [json.loads(line) for line in (world_dir / "corpus.jsonl").read_text().splitlines()]
    assert len(passages) == ENTITIES
    assert all(p["title"] and p["text"].count(".") >= 3 for p in passages)


def test_no_test_or_dev_question_is_about_a_training_subject(world_dir: Path) -> None:
    subjects = {
        s: {q["subject"] for q in read_questions(world_dir, s)} for s in ("train", "dev", "test")
    }
    assert subjects["train"] and subjects["dev"] and subjects["test"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["train"] & subjects["dev"]
    assert not subjects["dev"] & subjects["test"]


def test_questions_follow_the_reports_hop_proportions(world_dir: Path) -> None:
    rows = read_questions(world_dir, "train")
    for hops, share in HOP_SHARES.items():
        found = sum(r["hops"] == hops for r in rows) / len(rows)
        assert abs(found - share) < 0.03, (hops, found)


def test_every_answer_is_in_a_supporting_passage(world_dir: Path) -> None:
    passages = {
        p["id"]: p for p in map(json.loads, (world_dir / "corpus.jsonl").read_text().splitlines())
    }
    for row in read_questions(world_dir, "test"):
        last = passages[row["supporting_ids"][-1]]
        assert row["answer"] in last["text"], row
        assert len(row["supporting_ids"]) == row["hops"]


def test_the_world_cli_writes_files_and_refuses_another_world_in_the_same_place(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["world", "--seed", "1", "--entities", "80", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "test:" in result.output and (tmp_path / "questions" / "test.jsonl").is_file()
    again = runner.invoke(app, ["world", "--seed", "2", "--entities", "80", "--out", str(tmp_path)])
    assert again.exit_code == 1 and "seed 1" in again.output


def test_the_index_command_takes_the_world_corpus_unchanged(
    world_dir: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["index", "--corpus", str(world_dir / "corpus.jsonl"), "--out", str(tmp_path / "i")]
    )
    assert result.exit_code == 0, result.output


def test_every_protocol_tag_and_special_token_is_one_token(world_tokenizer: Any) -> None:
    assert len(world_tokenizer) < 8000
    for tag in (*PROTOCOL_TAGS, *SPECIAL_TOKENS):
        assert len(world_tokenizer.encode(tag, add_special_tokens=False)) == 1, tag


def test_a_word_is_the_same_tokens_after_a_space_a_quote_or_a_tag(
    world_dir: Path, world_tokenizer: Any
) -> None:
    """Copying words from a question into a query, or a name from a result into an answer, is
    copying tokens."""
    words = ["does", "river", "founded", "1774"]
    titles = [*list(read_description(world_dir)["titles"].values())[:50], *words]
    for name in titles:
        alone = world_tokenizer.encode(name, add_special_tokens=False)
        for context in (f"born in {name}.", f'{{"query": "{name}"}}', f"<answer>{name}</answer>"):
            ids = world_tokenizer.encode(context, add_special_tokens=False)
            assert any(ids[i : i + len(alone)] == alone for i in range(len(ids))), (name, context)


def test_chat_format_reads_the_world_tokenizer(world_tokenizer: Any) -> None:
    chat = ChatFormat.from_tokenizer(world_tokenizer)
    assert chat.eos_token_id == world_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert chat.user_start.endswith("user\n")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_the_world_tokenizer_round_trips_any_text(text: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_TOKENIZER_DIR[0])
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


_TOKENIZER_DIR: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _remember_tokenizer(world_dir: Path) -> None:
    _TOKENIZER_DIR[:] = [world_dir / "tokenizer"]


@pytest.mark.parametrize("answer_from", ["results", "top"])
def test_transcripts_round_trip_and_answer_from_the_results(
    answer_from: str,
    world_dir: Path,
    world_tokenizer: Any,
    finder: MentionFinder,
    play: PlayTranscripts,
) -> None:
    questions = read_questions(world_dir, "train")[:40]
    episodes, pools = play(questions, FormatOnlySettings(answer_from=answer_from))
    for question, episode, pool in zip(questions, episodes, pools, strict=True):
        assert episode.stop_reason == "answer" and episode.tool_calls
        assert episode.answer in pool
        text = world_tokenizer.decode(episode.prompt_ids + episode.completion_ids)
        again = world_tokenizer.encode(text, add_special_tokens=False)
        assert again == episode.prompt_ids + episode.completion_ids
        if answer_from == "top":  # a copy of the top entry the model read last
            read = [r for r in RESULT.findall(text) if shown_ids(r) and finder.find(r)]
            if not read:
                assert episode.answer in question["question"]
            elif top := TOP_ENTRY.search(read[-1]):
                assert pool == finder.find(top.group(1))
            else:  # a fetched page
                assert pool == finder.find(read[-1])
    if answer_from == "top":
        assert len({len(pool) for pool in pools}) > 1 and max(map(len, pools)) < 12
    with pytest.raises(ValueError, match="answer_from must be one of results, top"):
        FormatOnlySettings(answer_from="gold")


def test_unasked_answers_leave_out_what_the_question_names(
    world_dir: Path, finder: MentionFinder, play: PlayTranscripts
) -> None:
    questions = [q for q in read_questions(world_dir, "train") if q["hops"] == 1][:40]
    played = {
        unasked: play(
            questions,
            FormatOnlySettings(answer_from="top", answer_unasked=unasked),
            titles=read_description(world_dir)["titles"],  # every top entry is the subject's
        )
        for unasked in (False, True)
    }
    asked = [set(finder.find(q["question"])) for q in questions]
    subject_answers = [
        sum(e.answer in names for e, names in zip(episodes, asked, strict=True))
        for episodes, _ in played.values()
    ]
    assert subject_answers[0] > 0 and subject_answers[1] == 0
    for (episode, pool), names in zip(zip(*played[True], strict=True), asked, strict=True):
        assert pool and episode.answer in pool and not names & set(pool)
    assert sum(map(len, played[True][1])) < sum(map(len, played[False][1]))


def test_a_search_that_follows_the_top_entry_finds_the_second_hop(
    world_dir: Path, world_tokenizer: Any, finder: MentionFinder, play: PlayTranscripts
) -> None:
    """Every second query names what the passage just read holds and the question does not,
    and that finds a two-hop question's bridge entity far more often than a name of any
    result does."""
    questions = [q for q in read_questions(world_dir, "train") if q["hops"] == 2][:60]
    description = read_description(world_dir)
    bridges = {}
    for follow_from in ("results", "top"):
        episodes, _ = play(
            questions,
            FormatOnlySettings(
                question_name=1.0,
                answer_after_call=0.0,
                fetch=0.0,
                query_from_results=1.0,
                follow_from=follow_from,
            ),
        )
        found = 0
        for question, episode in zip(questions, episodes, strict=True):
            first, second = (c.arguments["query"] for c in episode.tool_calls)
            assert first in finder.names_in(question["question"])
            bridge = description["titles"][question["supporting_ids"][1]]
            found += second == bridge
            if follow_from == "top":
                result = RESULT.findall(world_tokenizer.decode(episode.completion_ids))[0]
                top = TOP_ENTRY.search(result)
                assert top is not None and second in finder.names_in(top.group(1))
                assert second not in finder.find(question["question"])
        bridges[follow_from] = found / len(questions)
    assert bridges["top"] > 2 * bridges["results"] and bridges["top"] > 0.2
    with pytest.raises(ValueError, match="follow_from must be one of results, top"):
        FormatOnlySettings(follow_from="gold")


@pytest.mark.parametrize(
    "draws",
    [
        FormatOnlySettings(),
        FormatOnlySettings(answer_from="top", answer_unasked=True, follow_from="top"),
    ],
)
def test_transcripts_do_not_depend_on_the_gold_answer(
    draws: FormatOnlySettings, world_dir: Path, play: PlayTranscripts
) -> None:
    """The same questions with their answers replaced give the very same transcripts."""
    questions = read_questions(world_dir, "train")[:30]
    blind = [{**q, "answer": "?", "answer_aliases": []} for q in questions]
    runs = [play(rows, draws, seed=4)[0] for rows in (questions, blind)]
    assert [e.completion_ids for e in runs[0]] == [e.completion_ids for e in runs[1]]


def test_uniform_chance_is_the_share_of_matching_candidates() -> None:
    assert uniform_answer_chance([(["Oslo", "Rome", "Oslo"], ["oslo"]), ([], ["x"])]) == 0.25


def test_the_chance_level_is_that_of_the_bases_own_draws(
    world_dir: Path, world_engine: SearchEngine, tmp_path: Path
) -> None:
    """A base whose answers copy the top entry has fewer candidates per answer, so a higher
    chance level and bound, and the run reports those of the draws its record holds; a model no
    pretraining made has no chance level."""
    from nanosearch.env import EnvConfig
    from nanosearch.train.summary import base_chance, chance_level

    record = {"settings": {"answer_from": "top", "question_name": 0.5}}
    (tmp_path / "pretraining.json").write_text(json.dumps(record))
    assert base_draws(tmp_path) == FormatOnlySettings(question_name=0.5, answer_from="top")
    assert base_draws(tmp_path / "elsewhere") == FormatOnlySettings()
    tests = read_questions(world_dir, "test")
    config = EnvConfig(max_turns=3, token_budget=1280, result_chars=600)
    results = chance_level(world_dir, world_engine, tests, config)
    top = chance_level(world_dir, world_engine, tests, config, draws=base_draws(tmp_path))
    assert top["level"] > results["level"] and top["bound"] > results["bound"]
    assert top["bound"] < 0.5
    assert base_chance(tmp_path, world_dir, world_engine, tests, config) == top
    assert base_chance(tmp_path / "elsewhere", world_dir, world_engine, tests, config) is None
    unasked = FormatOnlySettings(question_name=0.5, answer_from="top", answer_unasked=True)
    assert (
        chance_level(world_dir, world_engine, tests, config, draws=unasked)["bound"]
        > (top["bound"])
    )


@pytest.mark.slow
def test_the_format_only_base_stays_under_its_chance_bound(
    world_dir: Path, world_engine: SearchEngine, tmp_path: Path
) -> None:
    from nanosearch.env import EnvConfig
    from nanosearch.train.summary import chance_level, evaluate_checkpoint

    train = read_questions(world_dir, "train")
    source = TranscriptSource(
        train, EngineTools(world_engine), read_description(world_dir)["mentions"], seed=0
    )
    base = pretrain_base(
        [source],
        world_dir / "tokenizer",
        tmp_path / "base",
        BaseSettings(token_budget=1280),
        world=world_fingerprint(world_dir),
    )
    record = json.loads((base / "pretraining.json").read_text())
    assert record["loss_last"] < record["loss_first"] - 1.0
    check_base_world(base, world_dir)
    with pytest.raises(NanosearchError, match="not pretrained on the world of seed 4"):
        check_base_world(base, build_world(4, ENTITIES, tmp_path / "another"))
    tests = read_questions(world_dir, "test")
    config = EnvConfig(max_turns=3, token_budget=1280, result_chars=600)
    chance = chance_level(world_dir, world_engine, tests, config)
    assert 0 < chance["level"] <= chance["bound"] < 0.2
    metrics, _ = evaluate_checkpoint(str(base), world_engine, tests, config)
    assert all(gold_answers(q) for q in tests)
    assert metrics["exact_match"] <= chance["bound"]


def test_the_shared_prefix_step_is_the_full_step() -> None:
    """Running the system prompt once and repeating its keys and values gives the loss and the
    gradient of running every transcript in full (less the loss on the prefix itself)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from nanosearch.env.policy import shared_prefix
    from nanosearch.world.base import batch_loss

    config = Qwen3Config(
        vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=64, pad_token_id=0,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    common = torch.randint(1, 300, (40,), generator=generator).tolist()
    sequences = [
        common + torch.randint(1, 300, (length,), generator=generator).tolist()
        for length in (5, 17, 9)
    ]
    assert shared_prefix(sequences) == 40
    keep = 39
    torch.manual_seed(0)
    full, shared = Qwen3ForCausalLM(config), Qwen3ForCausalLM(config)
    shared.load_state_dict(full.state_dict())
    width = max(map(len, sequences))
    ids = torch.zeros((3, width), dtype=torch.long)
    labels = torch.full((3, width), -100)
    attention = torch.zeros((3, width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
        attention[row, : len(sequence)] = 1
        labels[row, keep + 1 : len(sequence)] = torch.tensor(sequence[keep + 1 :])
    expected = full(input_ids=ids, attention_mask=attention, labels=labels).loss
    expected.backward()
    found = batch_loss(shared, torch.tensor([common[:keep]]), [s[keep:] for s in sequences], 0)
    found.backward()
    assert found.item() == pytest.approx(expected.item(), abs=1e-5)
    for a, b in zip(full.parameters(), shared.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_only_the_tokens_a_mask_keeps_are_learnt() -> None:
    """Pretraining learns the model's own turns: a token the environment inserted (mask 0)
    carries no loss."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from nanosearch.world.base import batch_loss

    config = Qwen3Config(
        vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=64, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    rests = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]
    masks = [[0, 0, 1, 1, 0, 1], [1, 0, 1]]
    ids = torch.tensor([rests[0], [*rests[1], 0, 0, 0]])
    attention = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0]])
    labels = torch.tensor([[-100, -100, 7, 8, -100, 10], [11, -100, 13, -100, -100, -100]])
    expected = model(input_ids=ids, attention_mask=attention, labels=labels).loss
    found = batch_loss(model, None, rests, 0, masks)
    assert found.item() == pytest.approx(expected.item(), abs=1e-6)
    assert found.item() != pytest.approx(batch_loss(model, None, rests, 0).item(), abs=1e-3)


def test_a_tokens_weight_scales_its_loss() -> None:
    """The loss is the weighted mean of the tokens' next-token losses: a token of weight 10
    counts ten times, one of weight 0 not at all."""
    import torch

    from nanosearch.world.base import batch_loss

    model = _tiny_language_model()
    rests = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]
    weights = [[0, 0, 1, 1, 0, 10], [1, 0, 2]]
    logits = model(input_ids=torch.tensor([rests[0], [*rests[1], 0, 0, 0]])).logits
    each = torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), torch.tensor([rests[0][1:], [12, 13, 0, 0, 0]]),
        reduction="none",
    )  # fmt: skip
    kept = torch.tensor([weights[0][1:], [0, 2, 0, 0, 0]], dtype=torch.float)
    expected = (each * kept).sum() / kept.sum()
    found = batch_loss(model, None, rests, 0, weights)
    assert found.item() == pytest.approx(expected.item(), abs=1e-5)


@pytest.mark.parametrize("learn", ["turns", "all"])
def test_the_answer_weight_falls_on_the_final_answers_tokens(learn: str) -> None:
    from types import SimpleNamespace

    from nanosearch.world.base import token_weights

    answer = 9  # the <answer> tag's id: tokens after the last one are the answer's
    episode = SimpleNamespace(
        prompt_ids=[1, 2, 3],
        completion_ids=[4, 5, 6, 7, answer, 10, 11],
        completion_mask=[1, 1, 0, 0, 1, 1, 1],
    )
    turns = [0, 0, 0, 1, 1, 0, 0, 1] if learn == "turns" else [1] * 8
    plain = token_weights(episode, BaseSettings(learn=learn), answer)
    weighted = token_weights(episode, BaseSettings(learn=learn, answer_weight=10), answer)
    assert plain == [*turns, 1, 1]
    assert weighted == [*turns, 10, 10]
    no_answer = SimpleNamespace(prompt_ids=[1], completion_ids=[4, 5], completion_mask=[1, 1])
    assert token_weights(no_answer, BaseSettings(answer_weight=10), answer) == [0, 1, 1]


def _tiny_language_model() -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=64, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    return Qwen3ForCausalLM(config)


def test_a_killed_pretraining_resumes_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between saves loses at most the steps since the last save: the resumed run ends
    with the weights and the loss record of a run never stopped."""
    import torch

    from nanosearch.world import base

    monkeypatch.setattr(base, "SAVE_EVERY", 2)
    sequences = [[1, 2, 3, *range(10 + i, 14 + i + i % 3)] for i in range(12)]
    settings = BaseSettings(epochs=2, batch_size=4, seed=1)  # 3 batches a epoch: 6 steps
    whole = _tiny_language_model()
    whole_losses = base.train_language_model(whole, sequences, 0, settings)

    state = tmp_path / "base.pretraining.pt"
    real_loss, calls = base.batch_loss, []

    def killed_at_step_five(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(base, "batch_loss", killed_at_step_five)
    with pytest.raises(KeyboardInterrupt):
        base.train_language_model(_tiny_language_model(), sequences, 0, settings, state=state)
    monkeypatch.setattr(base, "batch_loss", real_loss)
    lines: list[str] = []
    resumed = _tiny_language_model()
    losses = base.train_language_model(resumed, sequences, 0, settings, lines.append, state=state)
    assert "base pretraining: resuming at step 4/6" in lines
    assert losses == whole_losses
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_shorter_results_show_fewer_candidates_to_answer_from(
    world_dir: Path, play: PlayTranscripts
) -> None:
    """The curriculum's point: the top entry of a result cut at 100 characters shows about
    one name to answer with, of one cut at 600 four or more."""
    settings = BaseSettings(result_chars=600, shorter_results=[100, 200])
    assert settings.shorter_results == (100, 200)  # as a record's JSON gives them back
    assert settings.result_budgets() == [100, 200, 600]
    assert BaseSettings().result_budgets() == [600]
    for wrong in ([200, 100], [100, 600], [32]):
        with pytest.raises(ValueError, match="shorter_results must rise"):
            BaseSettings(shorter_results=wrong)
    one_hop = [q for q in read_questions(world_dir, "train") if q["hops"] == 1][:40]
    mean_pool = {}
    for chars in (100, 600):
        _, pools = play(one_hop, FormatOnlySettings(answer_from="top"), result_chars=chars)
        mean_pool[chars] = sum(len(set(p)) for p in pools) / len(pools)
    assert mean_pool[100] < 1.5 and mean_pool[600] > 4


def test_a_graded_pretraining_learns_each_level_in_turn_in_its_first_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nanosearch.world import base

    grades = [i % 3 for i in range(12)]
    sequences = [[1, 2, 3, 100 + g, *range(10 + i, 13 + i % 4)] for i, g in enumerate(grades)]
    seen: list[set[int]] = []
    real_loss = base.batch_loss

    def recording(model: Any, prefix: Any, rests: Any, *args: Any) -> Any:
        seen.append({row[1] - 100 for row in rests})  # rests start at the last shared token
        return real_loss(model, prefix, rests, *args)

    monkeypatch.setattr(base, "batch_loss", recording)
    settings = BaseSettings(epochs=2, batch_size=2)
    base.train_language_model(_tiny_language_model(), sequences, 0, settings, grades=grades)
    assert all(len(levels) == 1 for levels in seen)  # a batch holds one level
    first, second = [min(s) for s in seen[:6]], [min(s) for s in seen[6:]]
    assert first == [0, 0, 1, 1, 2, 2]
    assert sorted(second) == first


def test_copy_spans_are_random_tokens_said_twice_learnt_on_the_repeat(
    world_tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    from nanosearch.world import base

    plain = base.plain_tokens(world_tokenizer)
    tags = {world_tokenizer.convert_tokens_to_ids(t) for t in (*PROTOCOL_TAGS, *SPECIAL_TOKENS)}
    assert tags and not tags & set(plain) and len(plain) == len(world_tokenizer) - len(tags)
    spans, weights = base.copy_span_batch(random.Random(0), plain, 3)
    assert (spans, weights) == base.copy_span_batch(random.Random(0), plain, 3)
    for span, weight in zip(spans, weights, strict=True):
        half = base.COPY_SPAN
        assert span[:half] == span[half:] and set(span) <= set(plain)
        assert weight == [0.0] * (half + 1) + [1.0] * (half - 1)

    rows_seen: list[list[list[int]]] = []
    real_loss = base.batch_loss

    def recording(model: Any, prefix: Any, rests: Any, pad: int, weights: Any) -> Any:
        rows_seen.append(rests)
        assert weights is None or len(weights) == len(rests)
        return real_loss(model, prefix, rests, pad, weights)

    monkeypatch.setattr(base, "batch_loss", recording)
    sequences = [[1, 2, 3, *range(10 + i, 14 + i)] for i in range(8)]
    settings = BaseSettings(batch_size=4, copy_spans=2)
    base.train_language_model(_tiny_language_model(), sequences, 0, settings, copy_tokens=[7, 8, 9])
    assert [len(rows) for rows in rows_seen] == [4, 2, 4, 2]  # 4 transcripts, then 2 spans
    assert all(set(row) <= {7, 8, 9} for row in [*rows_seen[1], *rows_seen[3]])
    rows_seen.clear()
    base.train_language_model(_tiny_language_model(), sequences, 0, BaseSettings(batch_size=4))
    assert [len(rows) for rows in rows_seen] == [4, 4]


def test_a_state_of_other_settings_is_not_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanosearch.world import base

    monkeypatch.setattr(base, "SAVE_EVERY", 2)
    sequences = [[1, 2, 3, *range(10 + i, 15 + i)] for i in range(8)]
    state = tmp_path / "base.pretraining.pt"
    base.train_language_model(
        _tiny_language_model(), sequences, 0, BaseSettings(epochs=2, batch_size=4), state=state
    )
    assert state.is_file()
    lines: list[str] = []
    other = BaseSettings(epochs=2, batch_size=4, learning_rate=1e-3)
    losses = base.train_language_model(
        _tiny_language_model(), sequences, 0, other, lines.append, state=state
    )
    assert len(losses) == 4 and not any("resuming" in line for line in lines)


def test_a_bundled_base_is_found_only_for_its_world_and_settings(
    world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import asdict

    import nanosearch.assets
    from nanosearch.world.base import bundled_base, copy_base, is_complete_base, world_fingerprint

    fingerprint = world_fingerprint(world_dir)
    assert fingerprint == world_fingerprint(world_dir)
    settings = BaseSettings(epochs=3)
    shipped = tmp_path / "bases" / "w3"
    shipped.mkdir(parents=True)
    record = {"world": fingerprint, "settings": asdict(settings)}
    (shipped / "pretraining.json").write_text(json.dumps(record))
    (shipped / "config.json").write_text("{}")
    monkeypatch.setattr(nanosearch.assets, "WORLD_BASES", tmp_path / "bases")
    assert bundled_base(fingerprint, settings) == shipped
    assert bundled_base(fingerprint, BaseSettings(epochs=4)) is None
    assert bundled_base("0" * 64, settings) is None
    copied = copy_base(shipped, tmp_path / "run" / "base-model")
    assert is_complete_base(copied) and (copied / "config.json").read_text() == "{}"


@pytest.mark.parametrize("name", ["world-cpu", "world-demo"])
def test_the_world_recipes_start_from_the_bundled_base(name: str, tmp_path: Path) -> None:
    """The recipe's world, built afresh, is one the package's base was pretrained for (its
    tokenizer, for a base of fresh worlds), with the recipe's settings: a change to the
    generator or the tokenizer that would make the shipped base stale fails here."""
    from nanosearch.train.recipe import load_recipe
    from nanosearch.world.base import base_fingerprint, bundled_base

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / name)
    assert recipe.world is not None and recipe.model.world_base is not None
    world = build_world(
        recipe.world.seed, recipe.world.entities, tmp_path / "world", recipe.world.tokenizer
    )
    settings = recipe.model.world_base.settings()
    shipped = bundled_base(base_fingerprint(world, settings), settings)
    assert shipped is not None
    record = json.loads((shipped / "pretraining.json").read_text())
    assert record["loss_last"] < record["loss_first"]
