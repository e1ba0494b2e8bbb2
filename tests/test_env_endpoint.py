"""The environment with its policy served by a real vLLM OpenAI-compatible server on CPU,
serving the tiny Qwen3-architecture model (no pretrained weights can be had here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nanosearch.env import ChatFormat, EnvConfig, run_episodes
from nanosearch.env.endpoint import EndpointPolicy
from nanosearch.errors import NanosearchError
from nanosearch.models import load_model
from nanosearch.search import SearchEngine
from nanosearch.server.process import free_port
from nanosearch.tools import EngineTools
from tests.test_env import assert_tokens_line_up
from tests.vllm_server import vllm_server


@pytest.fixture(scope="module")
def vllm(tiny_qwen3_dir: Path) -> Iterator[str]:
    with vllm_server(tiny_qwen3_dir, "tiny-qwen3") as base:
        yield base


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen3_dir: Path) -> Any:
    return load_model(str(tiny_qwen3_dir))[1]


def test_episodes_from_a_vllm_policy_line_up(
    vllm: str, tokenizer: Any, musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    policy = EndpointPolicy(vllm, "tiny-qwen3", tokenizer, temperature=1.0, top_p=1.0)
    chat = ChatFormat.from_tokenizer(tokenizer)
    examples = musique_records[:4]
    episodes = run_episodes(
        policy,
        EngineTools(musique_engine),
        chat,
        examples,
        EnvConfig(max_turns=3, token_budget=700),
    )
    for episode in episodes:
        assert episode.stop_reason in ("answer", "max_turns", "token_budget")
        assert len(episode.prompt_ids) + len(episode.completion_ids) <= 700
        assert episode.num_model_tokens > 0
        assert_tokens_line_up(episode, tokenizer)


def test_greedy_turns_are_reproducible_and_stop_at_the_budget(vllm: str, tokenizer: Any) -> None:
    from nanosearch.env import GenerationRequest

    policy = EndpointPolicy(vllm, "tiny-qwen3", tokenizer, temperature=0.0)
    prompt = ChatFormat.from_tokenizer(tokenizer).prompt_ids([{"role": "user", "content": "hi"}])
    requests = [GenerationRequest(0, 0, prompt, 16), GenerationRequest(1, 0, prompt, 16)]
    first, second = policy.generate(requests)
    assert first.token_ids == second.token_ids
    assert len(first.token_ids) <= 16
    assert first.text == tokenizer.decode(first.token_ids)


def test_endpoint_errors_are_clear(vllm: str, tokenizer: Any) -> None:
    from nanosearch.env import GenerationRequest

    request = [GenerationRequest(0, 0, [151644, 872], 4)]
    with pytest.raises(NanosearchError, match="answered 404"):
        EndpointPolicy(vllm, "no-such-model", tokenizer, retries=0).generate(request)
    closed = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(NanosearchError, match="cannot reach"):
        EndpointPolicy(closed, "tiny-qwen3", tokenizer, retries=1).generate(request)
