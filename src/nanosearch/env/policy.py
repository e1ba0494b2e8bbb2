"""Policies: anything that continues a batch of token sequences.

The environment asks for one model turn per active episode in a single call, so generation is
batched across the whole group. A :class:`Generation` carries the sampled token ids themselves:
the episode is built by concatenating them, never by re-tokenising text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from nanosearch.protocol import STOP_STRINGS

FinishReason = Literal["stop", "eos", "length", "context"]
"""``stop``: at a stop string; ``eos``: at the end-of-turn token; ``length``: at the turn's token
limit; ``context``: nothing was generated, the endpoint refused the prompt as longer than the
model's context."""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One turn to write. ``input_ids`` is the episode so far as tokens (empty when the loop
    runs without a tokenizer, for a chat endpoint that frames the chat itself); ``messages`` is
    the same episode as chat messages; ``tools`` the tool schemas the chat template lists (the
    hermes protocol; empty when the system prompt lists them)."""

    episode: int
    turn: int
    input_ids: list[int]
    max_new_tokens: int
    messages: tuple[dict[str, str], ...] = ()
    tools: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Generation:
    """One written turn. ``usage`` is (prompt tokens, completion tokens) as an endpoint counted
    them, when the policy does not hand back token ids."""

    token_ids: list[int]
    text: str
    finish_reason: FinishReason
    logprobs: list[float | None] | None = None  # the sampler's, one per token, when known
    usage: tuple[int, int] | None = None


class Policy(Protocol):
    def generate(self, requests: list[GenerationRequest]) -> list[Generation]: ...


def finish_of(
    text: str, token_ids: list[int], end_ids: set[int], max_new_tokens: int
) -> FinishReason:
    if token_ids and token_ids[-1] in end_ids:
        return "eos"
    if any(text.rstrip().endswith(stop) for stop in STOP_STRINGS):
        return "stop"
    return "length" if len(token_ids) >= max_new_tokens else "stop"


class ScriptedPolicy:
    """Replays given assistant texts, turn by turn, for each episode.

    The stand-in for a language model in tests (no real LLM can run there): its texts are
    tokenised once, as a model would have sampled them, and cut at the token budget.
    """

    def __init__(self, tokenizer: Any, scripts: Sequence[Sequence[str]]) -> None:
        self.tokenizer = tokenizer
        self.scripts = scripts
        self.end_ids = {tokenizer.eos_token_id}

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        generations = []
        for request in requests:
            script = self.scripts[request.episode]
            text = script[request.turn] if request.turn < len(script) else ""
            ids = list(self.tokenizer.encode(text, add_special_tokens=False))[
                : request.max_new_tokens
            ]
            text = self.tokenizer.decode(ids)
            generations.append(
                Generation(ids, text, finish_of(text, ids, self.end_ids, request.max_new_tokens))
            )
        return generations


SHARED_PREFIX_MIN = 32  # shorter shared prefixes are run with every row


def shared_prefix(sequences: Sequence[Sequence[int]]) -> int:
    """The length of the token prefix every sequence starts with."""
    if not sequences:
        return 0
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for sequence in sequences[1:]:
        length = next((i for i in range(length) if sequence[i] != first[i]), length)
    return length


class TransformersPolicy:
    """A transformers causal LM in this process, sampling a padded batch at once (a prompt the
    rows share run once), stopping each row at a tool call, an answer or the end of turn."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        temperature: float = 0.7,
        top_p: float = 0.8,
        top_k: int = 0,
        end_token_id: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self._stop_criteria: Any = None
        self.pad_id, self.end_ids = pad_and_end_ids(tokenizer, end_token_id)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Sample every request's turn in one batch (:func:`continue_rows`)."""
        if not requests:
            return []
        continuations = continue_rows(
            self.model,
            [list(r.input_ids) for r in requests],
            max(r.max_new_tokens for r in requests),
            pad_id=self.pad_id,
            end_ids=self.end_ids,
            stopping_criteria=self.stop_criteria(),
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
        )
        return [
            turn_of(sampled, request, self.end_ids, self.tokenizer)
            for sampled, request in zip(continuations, requests, strict=True)
        ]

    def stop_criteria(self) -> Any:
        """Built once: matching stop strings against a 151K vocabulary takes seconds, and
        ``generate(stop_strings=...)`` would redo it on every call."""
        if self._stop_criteria is None:
            from transformers import StoppingCriteriaList, StopStringCriteria

            self._stop_criteria = StoppingCriteriaList(
                [StopStringCriteria(self.tokenizer, list(STOP_STRINGS))]
            )
        return self._stop_criteria


def pad_and_end_ids(tokenizer: Any, end_token_id: int | None = None) -> tuple[int, set[int]]:
    """The id a batch pads with (the pad token, else the end-of-sequence token) and the ids
    that end a row: its end token (``end_token_id``, else end of sequence) and the padding a
    row that ended is filled with."""
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    end = end_token_id if end_token_id is not None else tokenizer.eos_token_id
    return pad_id, {end, pad_id}


def continue_rows(
    model: Any,
    rows: list[list[int]],
    max_new_tokens: int,
    *,
    pad_id: int,
    end_ids: set[int],
    stopping_criteria: Any = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
) -> list[list[int]]:
    """Continue every row of token ids in one padded batch and return each row's sampled
    tokens (a row that ended early is padded after its end). When the rows share a long prefix
    (a system prompt, two thirds of a world episode's context), it is run once and its keys and
    values repeated for every row: each row is laid out as the prefix, a masked gap, then the
    rest right-aligned, so positions stay those of the unpadded row. ``temperature`` 0 is
    greedy; ``top_k`` 0 is off, whatever the model's generation config says."""
    import torch

    if not rows:
        return []
    keep = shared_prefix(rows) - 1 if len(rows) > 1 else 0
    keep = keep if keep >= SHARED_PREFIX_MIN else 0
    width = max(len(row) - keep for row in rows)
    input_ids = torch.full((len(rows), keep + width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), keep + width), dtype=torch.long)
    for index, row in enumerate(rows):
        begin = keep + width - (len(row) - keep)  # where the row's rest starts
        input_ids[index, :keep] = torch.tensor(row[:keep], dtype=torch.long)
        input_ids[index, begin:] = torch.tensor(row[keep:], dtype=torch.long)
        attention[index, :keep] = 1
        attention[index, begin:] = 1
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": top_k}
    with torch.no_grad():
        cached = {}
        if keep:
            cache = model(input_ids=input_ids[:1, :keep], use_cache=True).cache
            cache.batch_repeat_interleave(len(rows))
            cached = {"cache": cache}
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            max_new_tokens=max_new_tokens,
            stopping_criteria=stopping_criteria,
            pad_token_id=pad_id,
            eos_token_id=sorted(end_ids),
            **cached,
            **sampling,
        )
    return [output[row, keep + width :].tolist() for row in range(len(rows))]


def turn_of(
    sampled: list[int],
    request: GenerationRequest,
    end_ids: set[int],
    tokenizer: Any,
    logprobs: list[float | None] | None = None,
) -> Generation:
    """One turn out of a sampled continuation that may run past it: cut at the turn's budget,
    then at its first tool call, answer or end-of-turn token (``logprobs`` cut alike)."""
    ids = cut_at_turn_end(sampled[: request.max_new_tokens], end_ids, tokenizer)
    text = tokenizer.decode(ids, skip_special_tokens=False)
    kept = list(logprobs[: len(ids)]) if logprobs is not None else None
    return Generation(ids, text, finish_of(text, ids, end_ids, request.max_new_tokens), kept)


def cut_at_turn_end(
    ids: list[int], end_ids: set[int], tokenizer: Any, stops: Sequence[str] = STOP_STRINGS
) -> list[int]:
    """The tokens of one row up to whichever comes first: the token completing a stop string,
    or an end-of-turn token (kept). Rows that finished early are padded after that point."""
    window = max((len(stop) for stop in stops), default=0) + 64
    text = ""
    for position, token in enumerate(ids):
        if token in end_ids:
            return ids[: position + 1]
        if stops:
            text = (text + tokenizer.decode([token]))[-window:]
            if any(stop in text for stop in stops):
                return ids[: position + 1]
    return ids
