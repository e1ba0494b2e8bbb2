"""The embedded default model: a transformers checkpoint (local directory or hub id) loaded in
this process and offered to the agent runtimes as an OpenAI-compatible chat endpoint on a
loopback port, so ``native``, ``react`` and ``codeagent`` reach it exactly as they reach vLLM.

Tools given in a request go to the chat template; ``<tool_call>`` blocks in the reply come back
as ``tool_calls`` (what vLLM's hermes parser does). Requests that arrive while the model is busy
are generated together, as one padded batch (vLLM batches them continuously): an evaluation of
``concurrency`` questions at once sends up to that many turns a batch.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nanosearch.errors import NanosearchError
from nanosearch.protocol.hermes import parse_hermes

SERVED_NAME = "local"
MAX_BATCH = 16  # turns generated as one padded batch


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]] = Field(min_length=1)
    model: str = SERVED_NAME
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sampling:
    """The settings a batch's rows share."""

    temperature: float
    top_p: float
    stops: tuple[str, ...]


@dataclass(slots=True, eq=False)
class PendingTurn:
    ids: list[int]
    max_new: int
    sampling: Sampling
    sampled: Future[list[int]] = field(default_factory=Future)


class LocalChatModel:
    """A causal LM and its tokenizer answering chat requests (:meth:`load` reads a checkpoint)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_tokens: int = 1024,
        max_batch: int = MAX_BATCH,
        context: int | None = None,
    ) -> None:
        from nanosearch.env.policy import pad_and_end_ids

        self.model = model
        self.tokenizer = tokenizer
        self.pad_id, self.end_ids = pad_and_end_ids(tokenizer)
        self.default_max_tokens = max_tokens
        self.context = context or int(getattr(model.config, "max_position_embeddings", 32_768))
        self.max_batch = max_batch
        self._pending: list[PendingTurn] = []
        self._pending_lock = threading.Lock()
        self._generating = False
        self._stop_criteria: dict[tuple[str, ...], Any] = {}

    @classmethod
    def load(
        cls,
        name_or_path: str,
        dtype: str = "auto",
        max_tokens: int = 1024,
        max_batch: int = MAX_BATCH,
    ) -> LocalChatModel:
        from nanosearch.models import load_model

        model, tokenizer = load_model(name_or_path, dtype)
        return cls(model, tokenizer, max_tokens=max_tokens, max_batch=max_batch)

    def complete(self, request: ChatRequest) -> dict[str, Any]:
        prompt = self._prompt(request)
        ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        max_new = request.max_completion_tokens or request.max_tokens or self.default_max_tokens
        if len(ids) + 1 > self.context:
            raise NanosearchError(
                f"the prompt has {len(ids)} tokens; the model's context is {self.context}"
            )
        max_new = min(max_new, self.context - len(ids))
        stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
        top_p = request.top_p if request.temperature > 0 else 1.0
        sampled = self._sample(
            PendingTurn(ids, max_new, Sampling(max(request.temperature, 0.0), top_p, tuple(stops)))
        )
        text, finish = self._cut(sampled, stops, max_new)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if request.tools and request.tool_choice != "none":
            content, calls = parse_hermes(text)
            if calls:
                finish = "tool_calls"
                message["content"] = content or None
                message["tool_calls"] = [
                    {
                        "id": f"call_{uuid.uuid4().hex[:24]}",
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                    }
                    for c in calls
                ]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": len(sampled),
                "total_tokens": len(ids) + len(sampled),
            },
        }

    def _prompt(self, request: ChatRequest) -> str:
        messages = [_plain(message) for message in request.messages]
        try:
            return self.tokenizer.apply_chat_template(
                messages,
                tools=request.tools or None,  # as given, as vLLM passes them
                add_generation_prompt=True,
                tokenize=False,
                **request.chat_template_kwargs,
            )
        except Exception as error:
            raise NanosearchError(
                f"the chat template cannot render these messages: {error}"
            ) from error

    def _sample(self, turn: PendingTurn) -> list[int]:
        """Queue the turn and wait for it. A turn that finds the model idle starts a generation
        thread, which runs batch after batch of what is queued and ends when nothing is (so it
        never outlives the requests and keeps no model loaded)."""
        with self._pending_lock:
            self._pending.append(turn)
            if not self._generating:
                self._generating = True
                threading.Thread(
                    target=self._generate_queued, name="local-model-generation", daemon=True
                ).start()
        return turn.sampled.result()

    def _generate_queued(self) -> None:
        """Generate the queued turns, those of the first one's settings together (at most
        ``max_batch``), until none is left."""
        while True:
            with self._pending_lock:
                if not self._pending:
                    self._generating = False
                    return
                sampling = self._pending[0].sampling
                batch = [t for t in self._pending if t.sampling == sampling][: self.max_batch]
                self._pending = [t for t in self._pending if t not in batch]
            try:
                rows = self._generate_fitting(batch)
            except Exception as error:  # each request of the batch answers with the failure
                for turn in batch:
                    turn.sampled.set_exception(error)
                continue
            for turn, row in zip(batch, rows, strict=True):
                turn.sampled.set_result(row)

    def _generate_fitting(self, batch: list[PendingTurn]) -> list[list[int]]:
        """:meth:`_generate`, in halves where the batch runs out of memory (a large model's
        keys and values for many long prompts), down to single turns."""
        try:
            return self._generate(batch)
        except Exception as error:
            if len(batch) == 1 or not _out_of_memory(error):
                raise
        half = len(batch) // 2
        return self._generate_fitting(batch[:half]) + self._generate_fitting(batch[half:])

    def _generate(self, batch: list[PendingTurn]) -> list[list[int]]:
        """Each turn's tokens, up to and with its end token, or up to the token that completes
        one of its stop strings, within its own ``max_new``."""
        from nanosearch.env.policy import continue_rows, cut_at_turn_end

        sampling = batch[0].sampling
        continuations = continue_rows(
            self.model,
            [turn.ids for turn in batch],
            max(turn.max_new for turn in batch),
            pad_id=self.pad_id,
            end_ids=self.end_ids,
            stopping_criteria=self._criteria(sampling.stops),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
        )
        return [
            cut_at_turn_end(sampled[: turn.max_new], self.end_ids, self.tokenizer, sampling.stops)
            for sampled, turn in zip(continuations, batch, strict=True)
        ]

    def _criteria(self, stops: tuple[str, ...]) -> Any:
        """Built once per set of stop strings: it scans the whole vocabulary."""
        if not stops:
            return None
        if stops not in self._stop_criteria:
            from transformers import StoppingCriteriaList, StopStringCriteria

            self._stop_criteria[stops] = StoppingCriteriaList(
                [StopStringCriteria(self.tokenizer, list(stops))]
            )
        return self._stop_criteria[stops]

    def _cut(self, sampled: list[int], stops: list[str], max_new: int) -> tuple[str, str]:
        """The reply's text without its end token or the stop string that ended it (as the
        OpenAI API returns it), and why it ended."""
        ended = bool(sampled) and sampled[-1] == self.tokenizer.eos_token_id
        text = self.tokenizer.decode(sampled, skip_special_tokens=True)
        cuts = [text.find(stop) for stop in stops if stop in text]
        if cuts:
            return text[: min(cuts)], "stop"
        return text, "stop" if ended or len(sampled) < max_new else "length"


def _out_of_memory(error: Exception) -> bool:
    """An accelerator's or the host's allocation failure, as torch raises them."""
    return isinstance(error, MemoryError) or (
        type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()
    )


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the chat template reads it: text content, tool-call arguments as objects."""
    plain = dict(message)
    content = plain.get("content")
    if isinstance(content, list):
        plain["content"] = "".join(
            part.get("text", "") for part in content if isinstance(part, dict)
        )
    elif content is None:
        plain["content"] = ""
    calls = []
    for call in plain.get("tool_calls") or []:
        function = dict(call.get("function", call))
        if isinstance(function.get("arguments"), str):
            with suppress(ValueError):
                function["arguments"] = json.loads(function["arguments"])
        calls.append({**call, "function": function})
    if calls:
        plain["tool_calls"] = calls
    return plain


def create_app(model: LocalChatModel) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI(title="nanosearch local model")

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": SERVED_NAME, "object": "model"}]}

    @app.post("/v1/chat/completions")
    def chat(request: ChatRequest) -> Any:
        try:
            return model.complete(request)
        except NanosearchError as error:
            return JSONResponse(
                {"error": {"message": str(error), "type": "invalid_request_error"}}, 400
            )

    return app


@contextmanager
def serve_local_model(
    name_or_path: str, dtype: str = "auto", max_tokens: int = 1024, max_batch: int = MAX_BATCH
) -> Iterator[str]:
    """Load the model, serve it on a free loopback port until the block ends, and yield the
    endpoint's base URL (``.../v1``). Up to ``max_batch`` waiting requests generate together."""
    with serve_chat_model(LocalChatModel.load(name_or_path, dtype, max_tokens, max_batch)) as base:
        yield base


@contextmanager
def serve_chat_model(model: LocalChatModel) -> Iterator[str]:
    from nanosearch.server.process import serving_in_thread

    with serving_in_thread(create_app(model), "in-process model's endpoint") as base:
        yield f"{base}/v1"
