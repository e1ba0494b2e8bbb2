"""The environment driven by a real (tiny, randomly initialised) Qwen3-architecture model:
random output must never crash anything, and the masks must line up with the tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nanosearch.assets import MUSIQUE_SAMPLE
from nanosearch.env import ChatFormat, EnvConfig, TransformersPolicy, run_episodes
from nanosearch.errors import NanosearchError
from nanosearch.models import TINY_QWEN3, load_model
from nanosearch.rewards import REWARDS, STAGES, score
from nanosearch.search import SearchEngine
from nanosearch.tools import EngineTools
from tests.test_env import assert_tokens_line_up


@pytest.fixture(scope="module")
def tiny(tiny_qwen3_dir: Path) -> tuple[object, object]:
    return load_model(str(tiny_qwen3_dir))


def test_tiny_model_loads_from_its_directory(tiny: tuple, tiny_qwen3_dir: Path) -> None:
    model, tokenizer = tiny
    assert model.config.model_type == "qwen3"
    assert model.config.head_dim == TINY_QWEN3["head_dim"] == 64
    assert model.config.vocab_size == len(tokenizer) == 151_669
    with pytest.raises(NanosearchError, match="cannot load model"):
        load_model(str(tiny_qwen3_dir.parent / "missing"))


def test_random_output_never_crashes_and_masks_line_up(
    tiny: tuple, musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    model, tokenizer = tiny
    chat = ChatFormat.from_tokenizer(tokenizer)
    policy = TransformersPolicy(model, tokenizer, temperature=1.0, top_p=1.0)
    examples = musique_records[:3]
    episodes = run_episodes(
        policy,
        EngineTools(musique_engine),
        chat,
        examples,
        EnvConfig(max_turns=2, token_budget=520),
    )
    assert len(episodes) == 3
    for episode, example in zip(episodes, examples, strict=True):
        assert episode.stop_reason in ("answer", "max_turns", "token_budget")
        assert len(episode.prompt_ids) + len(episode.completion_ids) <= 520
        assert episode.num_model_tokens > 0
        assert_tokens_line_up(episode, tokenizer)
        for stage in STAGES:
            assert json.dumps(score(episode, example, stage).components)
        for function in REWARDS.values():
            assert -1.0 <= function(episode, example) <= 1.0


def test_greedy_generation_is_reproducible(tiny: tuple, musique_engine: SearchEngine) -> None:
    model, tokenizer = tiny
    chat = ChatFormat.from_tokenizer(tokenizer)
    policy = TransformersPolicy(model, tokenizer, temperature=0.0)
    example = [{"question": "Where is the Bubye River?", "answer": "Zimbabwe"}]
    config = EnvConfig(max_turns=1, token_budget=400)
    first = run_episodes(policy, EngineTools(musique_engine), chat, example, config)[0]
    second = run_episodes(policy, EngineTools(musique_engine), chat, example, config)[0]
    assert first.completion_ids == second.completion_ids


def rollout(model: Path, questions: Path, index: Path, out: Path, *options: str) -> Any:
    command = [sys.executable, "-m", "nanosearch.cli", "rollout", "--model", str(model)]
    command += ["--questions", str(questions), "--index", str(index), "--out", str(out)]
    return subprocess.run(
        [*command, *options], capture_output=True, text=True, timeout=600, check=False
    )


def test_rollout_command_writes_scored_episodes(
    tiny_qwen3_dir: Path, musique_index_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "episodes.jsonl"
    options = ("--n", "2", "--token-budget", "450", "--max-turns", "2")
    result = rollout(tiny_qwen3_dir, MUSIQUE_SAMPLE, musique_index_dir, out, *options)
    assert result.returncode == 0, result.stderr
    assert f"wrote 2 episodes to {out}" in result.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2
    assert records[0]["id"] == json.loads(MUSIQUE_SAMPLE.read_text().splitlines()[0])["id"]
    assert set(records[0]["rewards"]) == {f.__name__ for f, _ in STAGES[1].rewards}
    assert len(records[0]["completion_ids"]) == len(records[0]["completion_mask"])


def test_rollout_command_plays_the_hermes_protocol(
    tiny_qwen3_dir: Path, musique_index_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "episodes.jsonl"
    options = ("--n", "1", "--token-budget", "700", "--max-turns", "1", "--protocol", "hermes")
    result = rollout(tiny_qwen3_dir, MUSIQUE_SAMPLE, musique_index_dir, out, *options)
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    system = record["messages"][0]["content"]
    assert "<answer>" in system and "<tool>" not in system and "web_search" not in system
    with_tools = tokenizer_of(tiny_qwen3_dir).decode(record["prompt_ids"])
    assert "<tools>" in with_tools and '"name": "web_search"' in with_tools
    refused = rollout(tiny_qwen3_dir, MUSIQUE_SAMPLE, musique_index_dir, out, "--protocol", "json")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: unknown tool protocol 'json': use xml or hermes"


def tokenizer_of(directory: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def test_rollout_command_errors_are_one_line(
    tiny_qwen3_dir: Path, musique_index_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok"}\n{"nothing": 1}\n')
    result = rollout(tiny_qwen3_dir, bad, musique_index_dir, tmp_path / "o.jsonl")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: line 2: an example needs a 'question' (or 'problem') field; "
        "it has ['nothing']"
    ]


def test_a_shared_prompt_is_run_once_and_each_turn_matches_its_row_alone() -> None:
    """The system prompt shared by a batch is run once (its keys and values repeated per row);
    the turns must be the very ones each row gets generated alone, unpadded. The shipped world
    base is a trained model, so its greedy choices are not near-ties a rounding could flip."""
    from nanosearch.assets import WORLD_BASES
    from nanosearch.env.policy import GenerationRequest, shared_prefix
    from nanosearch.protocol import system_prompt
    from nanosearch.tools import tool_specs

    model, tokenizer = load_model(str(WORLD_BASES / "lexicon-8-worlds"))
    chat = ChatFormat.from_tokenizer(tokenizer)
    policy = TransformersPolicy(model, tokenizer, temperature=0.0, end_token_id=chat.eos_token_id)
    questions = [
        "Who founded the Krimex Company?",
        "In which country is Brounholm?",
        "What was the occupation of Groukourkis Vous, and where was he born?",
        "When was the capital of the country the Vouspiasen River runs through founded?",
        "Who?",
    ]
    requests = [
        GenerationRequest(
            episode=index,
            turn=0,
            input_ids=chat.prompt_ids(
                [
                    {"role": "system", "content": system_prompt(tool_specs())},
                    {"role": "user", "content": question},
                ]
            ),
            max_new_tokens=24,
        )
        for index, question in enumerate(questions)
    ]
    assert shared_prefix([r.input_ids for r in requests]) > 400
    assert len({len(r.input_ids) for r in requests}) >= 3  # rows of several lengths
    widths: list[int] = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    batched = policy.generate(requests)
    hook.remove()
    prefix = shared_prefix([r.input_ids for r in requests]) - 1
    assert widths[0] == prefix  # the shared prompt, once
    assert max(widths[1:]) < 100  # then only what follows it
    alone = [policy.generate([request])[0] for request in requests]
    assert [g.token_ids for g in batched] == [g.token_ids for g in alone]
    assert all(g.token_ids for g in batched)
