"""The hermes tool protocol in the one episode loop: the tools given to the chat template,
``<tool_call>`` turns, results as ``tool`` messages; scripted policies (no real LLM can run
here), the real Qwen3 tokenizer and the real engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from transformers import AutoTokenizer

from nanosearch.assets import QWEN3_TOKENIZER
from nanosearch.env import ChatFormat, EnvConfig, ScriptedPolicy, run_episodes
from nanosearch.eval.chat_client import ChatPolicy, ChatSettings
from nanosearch.protocol import PROTOCOLS, tool_protocol
from nanosearch.rewards import score
from nanosearch.search import SearchEngine
from nanosearch.tools import EngineTools, tool_specs
from tests.test_env import QUESTION, MessagePolicy, assert_tokens_line_up

HERMES = EnvConfig(protocol="hermes")


def tool_call(name: str, **arguments: Any) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(QWEN3_TOKENIZER)


@pytest.fixture(scope="module")
def chat(tokenizer: Any) -> ChatFormat:
    return ChatFormat.from_tokenizer(tokenizer, thinking=False)


@pytest.fixture(scope="module")
def bubye_id(musique_engine: SearchEngine) -> str:
    return musique_engine.search(["Bubye River"], k=1)[0][0].id


def test_the_chat_template_frames_the_tool_role(tokenizer: Any, chat: ChatFormat) -> None:
    """The environment's turn is the template's own rendering of a ``tool`` message."""
    messages = [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
        {"role": "tool", "content": "RESULT"},
    ]
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    turn = chat.environment_turn("RESULT", "tool")
    assert rendered.endswith("\nA" + turn)
    assert "<tool_response>\nRESULT\n</tool_response>" in turn


def test_a_hermes_episode_is_what_the_chat_template_renders(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine, bubye_id: str
) -> None:
    script = [
        tool_call("web_search", query="Bubye River"),
        tool_call("fetch", id=bubye_id),
        "<answer>Zimbabwe</answer>",
    ]
    tools = EngineTools(musique_engine)
    (episode,) = run_episodes(ScriptedPolicy(tokenizer, [script]), tools, chat, [QUESTION], HERMES)
    assert (episode.answer, episode.stop_reason) == ("Zimbabwe", "answer")
    assert [(c.name, c.ok) for c in episode.tool_calls] == [("web_search", True), ("fetch", True)]
    assert_tokens_line_up(episode, tokenizer)
    schemas = [{"type": "function", "function": spec.to_dict()} for spec in tool_specs()]
    first = episode.messages[:2]
    assert "<tool>" not in first[0]["content"] and "<answer>" in first[0]["content"]
    expected = tokenizer.apply_chat_template(
        first, tools=schemas, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert tokenizer.decode(episode.prompt_ids) == expected
    assert "<tools>" in expected and '"name": "web_search"' in expected
    results = [m["content"] for m in episode.messages if m["role"] == "tool"]
    assert results[0].startswith('Results for "Bubye River":\n\n1. Bubye River')
    full = tokenizer.decode(episode.prompt_ids + episode.completion_ids)
    assert (
        '</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nResults for "Bubye River"'
        in full
    )
    components = score(episode, QUESTION, 1).components
    assert components["correctness"] == 1.0 and components["format_compliance"] == 1.0
    assert components["tool_execution"] == 1.0


def test_a_malformed_hermes_turn_is_told_the_hermes_syntax(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine
) -> None:
    script = ["<tool_call>\n{not json\n</tool_call>", "<answer>Zimbabwe</answer>"]
    tools = EngineTools(musique_engine)
    (episode,) = run_episodes(ScriptedPolicy(tokenizer, [script]), tools, chat, [QUESTION], HERMES)
    feedback = next(m["content"] for m in episode.messages if m["role"] == "tool")
    assert feedback.startswith("Error: the tool call is not valid JSON")
    assert feedback.endswith(tool_protocol("hermes").invalid_hint())
    assert "<tool_call>" in feedback and "<tool>" not in feedback


def test_without_a_tokenizer_a_hermes_episode_sends_the_tools_and_tool_messages(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine, bubye_id: str
) -> None:
    script = [tool_call("web_search", query="Bubye River"), "<answer>Zimbabwe</answer>"]
    tools = EngineTools(musique_engine)
    (tokens,) = run_episodes(ScriptedPolicy(tokenizer, [script]), tools, chat, [QUESTION], HERMES)
    seen_tools = []

    class Recording(MessagePolicy):
        def generate(self, requests: list[Any]) -> list[Any]:
            seen_tools.extend(request.tools for request in requests)
            return super().generate(requests)

    (messages,) = run_episodes(
        Recording([script], usage=(300, 20)), tools, None, [QUESTION], HERMES
    )
    assert messages.messages == tokens.messages
    names = [[tool["function"]["name"] for tool in listed] for listed in seen_tools]
    assert names == [["web_search", "fetch"]] * 2
    # The chat endpoint gets the results as tool messages, the tools and no tool parsing.
    sent: list[dict[str, Any]] = []

    class Endpoint:
        def complete(self, messages: list[Any], **options: Any) -> Any:
            from nanosearch.eval.chat_client import ChatReply

            sent.append({"messages": messages, **options})
            return ChatReply("<answer>Zimbabwe</answer>", [], "stop", 1, 1)

    policy = ChatPolicy(ChatSettings("http://127.0.0.1:9/v1", "m"))
    policy.endpoint = Endpoint()  # type: ignore[assignment]
    from nanosearch.env import GenerationRequest

    policy.generate(
        [GenerationRequest(0, 1, [], 64, tuple(messages.messages[:3]), tuple(seen_tools[0]))]
    )
    roles = [m["role"] for m in sent[0]["messages"]]
    assert roles == ["system", "user", "assistant", "tool"][: len(roles)]
    assert sent[0]["tools"] == list(seen_tools[0])


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_protocol_is_known_and_others_are_refused(name: str) -> None:
    assert tool_protocol(name).name == name
    with pytest.raises(ValueError, match="unknown tool protocol 'json'"):
        tool_protocol("json")
