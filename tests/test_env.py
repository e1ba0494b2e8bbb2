"""The rollout environment with a scripted policy (the only stand-in allowed: no real LLM can run
here) replaying assistant texts, the real Qwen3 tokenizer and the real engine."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from nanosearch.assets import QWEN3_TOKENIZER
from nanosearch.env import (
    ChatFormat,
    EnvConfig,
    Generation,
    GenerationRequest,
    HTTPTools,
    ScriptedPolicy,
    run_episodes,
)
from nanosearch.env.chat import episode_template, renders_like_training
from nanosearch.protocol import Episode
from nanosearch.rewards import score
from nanosearch.search import SearchEngine
from nanosearch.server.process import running_server
from nanosearch.tools import EngineTools, ServerLimits, ToolRequest

TOKENIZER_DIR = QWEN3_TOKENIZER
QUESTION = {"question": "Which country is the Bubye River in?", "answer": "Zimbabwe"}


def search(query: str) -> str:
    return f"<tool>{json.dumps({'name': 'web_search', 'arguments': {'query': query}})}</tool>"


def fetch(doc_id: str) -> str:
    return f"<tool>{json.dumps({'name': 'fetch', 'arguments': {'id': doc_id}})}</tool>"


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


@pytest.fixture(scope="module")
def chat(tokenizer: Any) -> ChatFormat:
    return ChatFormat.from_tokenizer(tokenizer, thinking=False)


@pytest.fixture(scope="module")
def bubye_id(musique_engine: SearchEngine) -> str:
    return musique_engine.search(["Bubye River"], k=1)[0][0].id


def play(
    tokenizer: Any, chat: ChatFormat, tools: Any, scripts: list[list[str]], **config: int
) -> list[Episode]:
    return run_episodes(
        ScriptedPolicy(tokenizer, scripts),
        tools,
        chat,
        [QUESTION] * len(scripts),
        EnvConfig(**config),
    )


def assert_tokens_line_up(episode: Episode, tokenizer: Any) -> None:
    """The masks cover every completion token, and the model-token spans are exactly what the
    model wrote in each turn."""
    assert len(episode.completion_ids) == len(episode.completion_mask)
    spans, current = [], []
    for token, mask in zip(episode.completion_ids, episode.completion_mask, strict=True):
        if mask:
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    decoded = [tokenizer.decode(span) for span in spans]
    turns = episode.model_turns
    assert len(decoded) == len(turns)
    for text, turn in zip(decoded, turns, strict=True):
        assert text.removesuffix("<|im_end|>") == turn.removesuffix("<|im_end|>")


def test_search_fetch_answer(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine, bubye_id: str
) -> None:
    script = [search("Bubye River"), fetch(bubye_id), "<answer>Zimbabwe</answer>"]
    (episode,) = play(tokenizer, chat, EngineTools(musique_engine), [script])
    assert episode.stop_reason == "answer" and not episode.truncated
    assert episode.answer == "Zimbabwe"
    assert [(c.name, c.ok) for c in episode.tool_calls] == [("web_search", True), ("fetch", True)]
    results = [m["content"] for m in episode.messages if m["role"] == "tool"]
    assert results[0].startswith('<result>\nResults for "Bubye River":\n\n1. Bubye River')
    assert "Zimbabwe" in results[1]
    assert episode.completion_ids[-1] == chat.eos_token_id and episode.completion_mask[-1] == 1
    assert_tokens_line_up(episode, tokenizer)
    prompt = tokenizer.decode(episode.prompt_ids)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert '"name": "web_search"' in prompt
    full = tokenizer.decode(episode.prompt_ids + episode.completion_ids)
    assert "</tool><|im_end|>\n<|im_start|>user\n<result>" in full
    assert score(episode, QUESTION, 1).components["correctness"] == 1.0


def test_invalid_call_then_recovery(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine
) -> None:
    script = [
        '<tool>{"name": "web_search", "arguments": {"query": </tool>',
        search("Bubye River"),
        "<answer>Zimbabwe</answer>",
    ]
    (episode,) = play(tokenizer, chat, EngineTools(musique_engine), [script])
    assert episode.stop_reason == "answer"
    first_result = next(m["content"] for m in episode.messages if m["role"] == "tool")
    assert "Error: the tool call is not valid JSON" in first_result
    assert [c.ok for c in episode.tool_calls] == [True]
    assert_tokens_line_up(episode, tokenizer)


def test_unknown_tool_and_bad_arguments_become_results(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine
) -> None:
    browse = '<tool>{"name": "browse", "arguments": {"url": "https://x"}}</tool>'
    bad_k = '<tool>{"name": "web_search", "arguments": {"query": "x", "k": 0}}</tool>'
    script = [browse, bad_k, fetch("/etc/passwd"), "<answer>Zimbabwe</answer>"]
    (episode,) = play(tokenizer, chat, EngineTools(musique_engine), [script])
    results = [m["content"] for m in episode.messages if m["role"] == "tool"]
    assert "unknown tool 'browse'; the tools are: fetch, web_search" in results[0]
    assert "'k' must be an integer from 1 to 100" in results[1]
    assert "not the id or url of any document" in results[2]
    assert [(c.name, c.ok) for c in episode.tool_calls] == [
        ("browse", False),
        ("web_search", False),
        ("fetch", False),
    ]
    assert score(episode, QUESTION, 1).components["tool_execution"] == 0.0


def test_token_budget_runs_out(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine
) -> None:
    script = [search("Bubye River")] * 20
    (episode,) = play(
        tokenizer, chat, EngineTools(musique_engine), [script], token_budget=1200, max_turns=20
    )
    assert episode.stop_reason == "token_budget" and episode.truncated
    assert len(episode.prompt_ids) + len(episode.completion_ids) <= 1200
    assert episode.answer is None
    assert_tokens_line_up(episode, tokenizer)


def test_long_turn_is_cut_at_the_budget(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine
) -> None:
    (episode,) = play(
        tokenizer, chat, EngineTools(musique_engine), [["word " * 2000]], token_budget=800
    )
    assert episode.stop_reason == "token_budget"
    assert len(episode.prompt_ids) + len(episode.completion_ids) <= 800


def test_max_turns(tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine) -> None:
    (episode,) = play(
        tokenizer, chat, EngineTools(musique_engine), [[search("river")] * 5], max_turns=3
    )
    assert episode.stop_reason == "max_turns"
    assert len(episode.model_turns) == 3 and len(episode.tool_calls) == 3
    # no result is inserted after the last turn: the episode ends on the model's closed turn
    assert [m["role"] for m in episode.messages].count("tool") == 2
    assert episode.completion_ids[-1] == chat.eos_token_id
    assert episode.completion_mask[-1] == 1


def test_a_batch_of_different_episodes_is_played_together(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine, bubye_id: str
) -> None:
    calls: list[int] = []

    class CountingTools(EngineTools):
        def run(self, requests: list[ToolRequest]) -> list[Any]:
            calls.append(len(requests))
            return super().run(requests)

    scripts = [
        ["<answer>Zimbabwe</answer>"],
        [search("Bubye River"), "<answer>Zimbabwe</answer>"],
        [search("Limpopo"), fetch(bubye_id), "<answer>Zimbabwe</answer>"],
        ["no tags at all", "<answer>x</answer>"],
    ]
    episodes = play(tokenizer, chat, CountingTools(musique_engine), scripts)
    assert [len(e.model_turns) for e in episodes] == [1, 2, 3, 2]
    assert all(e.stop_reason == "answer" for e in episodes)
    assert calls == [2, 1]
    for episode in episodes:
        assert_tokens_line_up(episode, tokenizer)


def test_tools_over_http_match_in_process(
    tokenizer: Any,
    chat: ChatFormat,
    musique_index_dir: Path,
    musique_engine: SearchEngine,
    bubye_id: str,
) -> None:
    script = [search("Bubye River"), fetch(bubye_id), fetch("nope"), "<answer>Zimbabwe</answer>"]
    local = play(tokenizer, chat, EngineTools(musique_engine), [script])[0]
    with running_server(musique_index_dir) as base:
        remote = play(tokenizer, chat, HTTPTools(base), [script])[0]
    assert remote.messages == local.messages
    assert remote.completion_ids == local.completion_ids


def test_http_tools_report_an_unreachable_server(tokenizer: Any, chat: ChatFormat) -> None:
    from nanosearch.server.process import free_port

    tools = HTTPTools(f"http://127.0.0.1:{free_port()}", timeout=2)
    result = tools.run([ToolRequest("web_search", {"query": "x"})])[0]
    assert not result.ok and "cannot be reached" in (result.error or "")


def test_one_bad_search_fails_alone(musique_engine: SearchEngine) -> None:
    """An over-long query fails its own call; the other searches of the step, with the same
    ``k``, still run, and more searches than one batch holds are split, not refused."""
    limits = ServerLimits(max_query_chars=50, max_batch=2)
    tools = EngineTools(musique_engine, limits)
    calls = [ToolRequest("web_search", {"query": q}) for q in ("Bubye River", "x" * 51)]
    calls += [ToolRequest("web_search", {"query": "Journal of Mathematical Physics"})] * 3
    results = tools.run(calls)
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert "is 51 characters long; the limit is 50" in (results[1].error or "")
    assert "Bubye River" in results[0].content and results[2].content == results[4].content


def test_a_tool_call_with_a_huge_integer_is_an_invalid_turn() -> None:
    from nanosearch.protocol import parse_turn

    body = '{"name": "web_search", "arguments": {"query": "x", "k": ' + "9" * 5000 + "}}"
    turn = parse_turn(f"<tool>{body}</tool>", {"web_search", "fetch"})
    assert turn.kind == "invalid" and "not valid JSON" in (turn.error or "")
    nested = '{"name": "web_search", "arguments": "{\\"k\\": ' + "9" * 5000 + '}"}'
    assert parse_turn(f"<tool>{nested}</tool>").kind == "invalid"


@pytest.fixture(scope="module")
def long_page_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nanosearch.corpus import read_corpus
    from nanosearch.search import build_index

    root = tmp_path_factory.mktemp("long-page")
    words = " ".join(f"word{i}" for i in range(1500))
    rows = [{"id": "long", "title": "A long page", "text": words}]
    rows += [{"id": "short", "title": "A short page", "text": "Bubye River flows."}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_index(read_corpus(root / "corpus.jsonl", "jsonl"), root / "index")
    return root / "index"


@pytest.mark.parametrize("transport", ["engine", "http"])
def test_a_fetched_page_fits_the_result_cut_and_says_where_it_ended(
    tokenizer: Any, chat: ChatFormat, long_page_index: Path, transport: str
) -> None:
    """The page is never longer than the environment's result cut (no text the model cannot
    see is skipped), and reading on from the offset it names continues where it ended."""
    from nanosearch.search import load

    cut = 600
    first = '<tool>{"name": "fetch", "arguments": {"id": "long"}}</tool>'

    def play_with(tools: Any) -> list[str]:
        (episode,) = play(tokenizer, chat, tools, [[first]], max_turns=2, result_chars=cut)
        return [m["content"] for m in episode.messages if m["role"] == "tool"]

    if transport == "engine":
        results = play_with(EngineTools(load(long_page_index)))
    else:
        with running_server(long_page_index) as base:
            results = play_with(HTTPTools(base))
    content = results[0].removeprefix("<result>\n").removesuffix("\n</result>")
    assert len(content) <= cut and "output cut" not in content
    text = content.split("\n\n", 1)[1]
    offset = int(content.split("fetch again with offset=")[1].split(")")[0])
    document = " ".join(f"word{i}" for i in range(1500))
    assert text == document[:offset]
    reply = EngineTools(load(long_page_index)).run(
        [ToolRequest("fetch", {"id": "long", "offset": offset}, cut)]
    )[0]
    assert reply.ok and len(reply.content) <= cut
    following = reply.content.split("\n\n", 1)[1]
    assert following and document[offset:].startswith(following)


class MessagePolicy:
    """Replays assistant texts from the chat messages alone, as a chat endpoint would be asked
    (no token ids), reporting the token counts an endpoint would; ``refuse_at`` answers that
    turn as an endpoint refusing a prompt beyond the model's context."""

    def __init__(self, scripts: list[list[str]], usage: tuple[int, int], refuse_at: int = -1):
        self.scripts, self.usage, self.refuse_at = scripts, usage, refuse_at
        self.seen: list[list[dict[str, str]]] = []

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        replies = []
        for request in requests:
            assert request.input_ids == []
            self.seen.append(list(request.messages))
            if request.turn == self.refuse_at:
                replies.append(Generation([], "", "context"))
                continue
            text = self.scripts[request.episode][request.turn]
            read = self.usage[0] * (request.turn + 1)
            replies.append(Generation([], text, "stop", usage=(read, self.usage[1])))
        return replies


def test_without_a_tokenizer_the_loop_plays_the_same_chat_from_messages(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine, bubye_id: str
) -> None:
    """The native evaluation's framing (a chat endpoint applies the template): the same
    messages as a token-level episode, each turn asked with the chat so far, and the counts the
    endpoint reported."""
    script = [search("Bubye River"), fetch(bubye_id), "<answer>Zimbabwe</answer>"]
    tools = EngineTools(musique_engine)
    (tokens,) = play(tokenizer, chat, tools, [script])
    policy = MessagePolicy([script], usage=(300, 20))
    (messages,) = run_episodes(policy, tools, None, [QUESTION], EnvConfig())
    assert messages.messages == tokens.messages
    assert messages.prompt_ids == messages.completion_ids == []
    assert [len(seen) for seen in policy.seen] == [2, 4, 6]
    assert policy.seen[2] == messages.messages[:6]
    assert (messages.answer, messages.stop_reason) == ("Zimbabwe", "answer")
    assert (messages.prompt_tokens, messages.completion_tokens) == (300 + 600 + 900, 60)
    mask = tokens.completion_mask
    starts = [i for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1])]
    assert tokens.prompt_tokens == sum(len(tokens.prompt_ids) + start for start in starts)
    assert tokens.completion_tokens == tokens.num_model_tokens - 1  # the closing token is added


def contexts_before_each_turn(episode: Episode, tokenizer: Any) -> list[str]:
    """What the model read before each of its turns in a token-level episode."""
    stream, mask = episode.prompt_ids + episode.completion_ids, episode.completion_mask
    offset = len(episode.prompt_ids)
    starts = [i for i, m in enumerate(mask) if m and (i == 0 or not mask[i - 1])]
    return [tokenizer.decode(stream[: offset + start]) for start in starts]


def rendered_before_each_turn(episode: Episode, tokenizer: Any) -> list[str]:
    """What a chat endpoint renders before each model turn of the same episode (an xml
    result goes as a user message)."""
    sent = [
        {"role": "user" if m["role"] == "tool" else m["role"], "content": m["content"]}
        for m in episode.messages
    ]
    turns = [i for i, m in enumerate(sent) if m["role"] == "assistant"]
    return [
        tokenizer.apply_chat_template(
            sent[:i], add_generation_prompt=True, tokenize=False, enable_thinking=False
        )
        for i in turns
    ]


def test_a_served_chat_renders_the_context_training_played_with_the_episode_template(
    tokenizer: Any, chat: ChatFormat, musique_engine: SearchEngine, bubye_id: str
) -> None:
    """Qwen3's template drops the empty think block of earlier assistant turns, so from the
    second turn on a served model would read another context than in training; the episode
    template renders every turn's context token for token as training played it."""
    script = [search("Bubye River"), fetch(bubye_id), "<answer>Zimbabwe</answer>"]
    (episode,) = play(tokenizer, chat, EngineTools(musique_engine), [script])
    played = contexts_before_each_turn(episode, tokenizer)
    stock = rendered_before_each_turn(episode, tokenizer)
    assert [a == b for a, b in zip(played, stock, strict=True)] == [True, False, False]
    assert not renders_like_training(tokenizer)
    aligned = copy.deepcopy(tokenizer)
    aligned.chat_template = episode_template(tokenizer)
    assert rendered_before_each_turn(episode, aligned) == played
    assert renders_like_training(aligned) and episode_template(aligned) is None
    assert ChatFormat.from_tokenizer(aligned, thinking=False) == dataclasses.replace(
        chat, tokenizer=aligned
    )


@pytest.mark.parametrize("thinking", [False, True])
def test_the_episode_template_keeps_the_think_block_of_every_turn(
    tokenizer: Any, thinking: bool
) -> None:
    aligned = copy.deepcopy(tokenizer)
    aligned.chat_template = episode_template(tokenizer, thinking)
    assert renders_like_training(aligned, thinking)
    assert not renders_like_training(tokenizer, thinking)


def test_a_template_that_differs_otherwise_from_training_is_named(tokenizer: Any) -> None:
    odd = copy.deepcopy(tokenizer)
    odd.chat_template = tokenizer.chat_template.replace("last_query_index", "last_user_index")
    with pytest.raises(ValueError, match="not Qwen3's template"):
        episode_template(odd)


def test_without_a_tokenizer_the_budget_is_the_endpoint_s_count(
    musique_engine: SearchEngine,
) -> None:
    script = [search("Bubye River"), search("Limpopo"), "<answer>Zimbabwe</answer>"]
    tools = EngineTools(musique_engine)
    full = MessagePolicy([script], usage=(480, 20))
    (episode,) = run_episodes(full, tools, None, [QUESTION], EnvConfig(token_budget=500))
    assert episode.stop_reason == "token_budget" and episode.context_tokens == 500
    assert len(episode.model_turns) == 1 and len(full.seen) == 1
    refused = MessagePolicy([script], usage=(100, 20), refuse_at=1)
    (episode,) = run_episodes(refused, tools, None, [QUESTION], EnvConfig())
    assert episode.stop_reason == "token_budget" and len(episode.model_turns) == 1
    assert episode.messages[-1]["role"] == "tool"
