"""Run a batch of multi-turn episodes step by step: the one episode loop of training rollouts,
held-out evaluation and the native evaluation runtime.

Each step asks the policy for one turn of every active episode at once, parses the turns,
runs every tool call of the step in one batch, and appends the ``<result>`` turns. Model tokens
get mask 1, inserted tokens mask 0. An episode ends with an answer, at ``max_turns``, or when
the token budget (prompt included) runs out.

Given a :class:`ChatFormat`, the loop builds every episode as token ids (what training needs).
Given none, it keeps the chat as messages only and the policy frames it (an OpenAI-compatible
chat endpoint applying the model's own template); the budget is then read from the token counts
the policy reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nanosearch.env.chat import ChatFormat
from nanosearch.env.policy import Generation, GenerationRequest, Policy
from nanosearch.protocol import (
    RESULT_CHARS,
    Episode,
    ProtocolName,
    StopReason,
    ToolCall,
    ToolProtocol,
    parse_turn,
    tool_protocol,
)
from nanosearch.tools import ToolClient, ToolRequest


@dataclass(frozen=True, slots=True)
class EnvConfig:
    """The limits of an episode, in training and in evaluation alike: ``max_turns`` model turns;
    ``token_budget`` tokens of context (prompt and every turn); tool output cut at
    ``result_chars``; at most ``turn_tokens`` tokens per model turn. ``lockstep`` keeps asking
    the policy every turn even when no episode is left (distributed generation, where every rank
    must take part in each call). ``protocol`` is how the tools are shown and their results
    given back (``xml`` or ``hermes``: see ``nanosearch.protocol.prompt``)."""

    max_turns: int = 10
    token_budget: int = 8192
    result_chars: int = RESULT_CHARS
    turn_tokens: int | None = None
    lockstep: bool = False
    protocol: ProtocolName = "xml"


def question_of(example: dict[str, Any]) -> str:
    for key in ("question", "problem", "query"):
        if isinstance(example.get(key), str):
            return example[key]
    raise ValueError(
        f"an example needs a 'question' (or 'problem') field; it has {sorted(example)}"
    )


def run_episodes(
    policy: Policy,
    tools: ToolClient,
    chat: ChatFormat | None,
    examples: list[dict[str, Any]],
    config: EnvConfig | None = None,
) -> list[Episode]:
    """Play one episode per example, batched, and return them in the order given (as token
    ids when ``chat`` is given, as messages only when it is None: see the module doc)."""
    config = config or EnvConfig()
    protocol = tool_protocol(config.protocol)
    names = {spec.name for spec in tools.specs}
    system = protocol.system(tools.specs)
    listed = protocol.template_tools(tools.specs)
    episodes = []
    for example in examples:
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": question_of(example)},
        ]
        episode = Episode(question=messages[1]["content"], messages=messages)
        if chat is not None:
            episode.prompt_ids = chat.prompt_ids(messages, listed)
            episode.context_tokens = len(episode.prompt_ids)
        episodes.append(episode)
    active = list(range(len(episodes)))
    for turn in range(config.max_turns):
        for i in active:
            if _budget_left(episodes[i], config) <= 1:
                _stop(episodes[i], "token_budget")
        active = [i for i in active if episodes[i].stop_reason is None]
        if not active and not config.lockstep:
            break
        requests = [
            GenerationRequest(
                i,
                turn,
                episodes[i].prompt_ids + episodes[i].completion_ids,
                _turn_budget(episodes[i], config),
                tuple(episodes[i].messages),
                tuple(listed),
            )
            for i in active
        ]
        asked = dict(zip(active, requests, strict=True))
        generations = dict(zip(active, policy.generate(requests), strict=True))
        pending: list[tuple[int, ToolRequest]] = []
        feedback: dict[int, str] = {}
        for i, generation in list(generations.items()):
            episode = episodes[i]
            if generation.finish_reason == "context":
                _stop(episode, "token_budget")
                del generations[i]
                continue
            _count(episode, asked[i], generation, by_policy=chat is None)
            _append(episode, generation.token_ids, 1, generation.logprobs)
            episode.messages.append({"role": "assistant", "content": generation.text})
            parsed = parse_turn(generation.text, names)
            if parsed.kind == "answer":
                episode.answer = parsed.answer
                if generation.finish_reason != "eos" and chat is not None:
                    _append(episode, [chat.eos_token_id], 1)
                _stop(episode, "answer")
            elif generation.finish_reason == "length":
                _stop(episode, "token_budget")
            elif parsed.kind == "tool":
                request = ToolRequest(
                    parsed.tool_name or "", parsed.tool_arguments, config.result_chars
                )
                pending.append((i, request))
            else:
                if parsed.tool_name is not None:
                    episode.tool_calls.append(
                        ToolCall(turn, parsed.tool_name, parsed.tool_arguments, False, parsed.error)
                    )
                feedback[i] = f"Error: {parsed.error}. {protocol.invalid_hint()}"
        results = tools.run([request for _, request in pending]) if pending else []
        for (i, request), result in zip(pending, results, strict=True):
            episodes[i].tool_calls.append(
                ToolCall(turn, request.name, request.arguments, result.ok, result.error)
            )
            feedback[i] = result.content
        if turn == config.max_turns - 1:
            # No turn is left to read a result: the episode ends on the model's own turn,
            # closed with the end-of-turn token as the model would close it.
            for i in feedback:
                if generations[i].finish_reason == "stop" and chat is not None:
                    _append(episodes[i], [chat.eos_token_id], 1)
            break
        for i, content in feedback.items():
            rendered = protocol.result(content, config.result_chars)
            _insert_result(episodes[i], generations[i], chat, rendered, config, protocol)
        active = [i for i in active if episodes[i].stop_reason is None]
    for i in active:
        _stop(episodes[i], "max_turns")
    return episodes


def _turn_budget(episode: Episode, config: EnvConfig) -> int:
    room = _budget_left(episode, config) - 1  # room for the end-of-turn token
    return min(room, config.turn_tokens) if config.turn_tokens else room


def _budget_left(episode: Episode, config: EnvConfig) -> int:
    return config.token_budget - episode.context_tokens


def _count(
    episode: Episode, request: GenerationRequest, generation: Generation, by_policy: bool
) -> None:
    """Add a turn's tokens to the episode's counts: the ids it read and wrote, or without
    ids, the policy's own counts (which also say how full the context is)."""
    if by_policy:
        read, written = generation.usage or (0, 0)
        episode.context_tokens = read + written
    else:
        read, written = len(request.input_ids), len(generation.token_ids)
    episode.prompt_tokens += read
    episode.completion_tokens += written


def _append(
    episode: Episode,
    token_ids: list[int],
    mask: int,
    logprobs: list[float | None] | None = None,
) -> None:
    episode.completion_ids.extend(token_ids)
    episode.completion_mask.extend([mask] * len(token_ids))
    episode.context_tokens += len(token_ids)
    if logprobs is None or len(logprobs) != len(token_ids):
        logprobs = [None] * len(token_ids)
    episode.completion_logprobs.extend(logprobs)


def _stop(episode: Episode, reason: StopReason) -> None:
    if episode.stop_reason is None:
        episode.stop_reason = reason
        episode.truncated = reason != "answer"


def _insert_result(
    episode: Episode,
    generation: Generation,
    chat: ChatFormat | None,
    result: str,
    config: EnvConfig,
    protocol: ToolProtocol,
) -> None:
    """Append the environment's turn, unless it would overflow the token budget: then the
    episode ends there, so no sequence is ever longer than the stage's context. (Without a
    tokenizer its length is unknown until the policy's next turn reports it.)"""
    if chat is None:
        episode.messages.append({"role": "tool", "content": result})
        return
    text = chat.environment_turn(result, protocol.result_role)
    if generation.finish_reason == "eos":
        text = text.removeprefix(chat.tokenizer.decode([generation.token_ids[-1]]))
    inserted = chat.encode(text)
    if len(inserted) >= _budget_left(episode, config):
        _stop(episode, "token_budget")
        return
    _append(episode, inserted, 0)
    episode.messages.append({"role": "tool", "content": result})
