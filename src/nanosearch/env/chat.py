"""Token-level chat framing: the prompt, and the text the environment inserts between turns.

The framing is read off the tokenizer's own chat template (rendered around sentinel strings),
so any ChatML-style template (Qwen2.5, Qwen3, QwQ) works, and thinking can be switched off
through ``enable_thinking=False`` exactly as the template does it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SENTINEL_A = "\x00NANOSEARCH_A\x00"
SENTINEL_B = "\x00NANOSEARCH_B\x00"
SENTINEL_C = "\x00NANOSEARCH_C\x00"


@dataclass(frozen=True, slots=True)
class ChatFormat:
    """``assistant_end`` closes a model turn; ``user_start`` and ``user_end`` wrap the
    environment's turn given as a user message (the end includes the next assistant header),
    ``tool_start`` and ``tool_end`` the same given as a ``tool`` message (None when the
    template has no tool role)."""

    tokenizer: Any
    assistant_end: str
    user_start: str
    user_end: str
    eos_token_id: int
    thinking: bool
    tool_start: str | None = None
    tool_end: str | None = None

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, thinking: bool = False) -> ChatFormat:
        def render(messages: list[dict[str, Any]], generation_prompt: bool) -> str:
            return tokenizer.apply_chat_template(
                messages,
                add_generation_prompt=generation_prompt,
                tokenize=False,
                enable_thinking=thinking,
            )

        exchange = render(exchange_messages(), False)
        assistant_end = exchange.partition(SENTINEL_B)[2]
        # An explicit system turn keeps templates that add a default one (Qwen2.5) out of the
        # user header; what separates it from the user's text is "end of turn + user header".
        framed = render(
            [{"role": "system", "content": SENTINEL_B}, {"role": "user", "content": SENTINEL_A}],
            True,
        )
        between, _, user_end = framed.partition(SENTINEL_B)[2].partition(SENTINEL_A)
        user_start = between.removeprefix(assistant_end)
        end_token = (
            tokenizer.convert_tokens_to_ids(assistant_end.strip())
            if assistant_end.strip()
            else None
        )
        if not isinstance(end_token, int) or end_token == tokenizer.unk_token_id:
            end_token = tokenizer.eos_token_id
        tool_start = tool_end = None
        try:
            with_tool = render(
                [*exchange_messages(), {"role": "tool", "content": SENTINEL_C}], True
            )
        except Exception:  # a template without a tool role (jinja raises its own errors)
            with_tool = ""
        after = with_tool.partition(SENTINEL_B)[2]
        if SENTINEL_C in after and after.startswith(assistant_end):
            tool_start, _, tool_end = after.removeprefix(assistant_end).partition(SENTINEL_C)
        return cls(
            tokenizer,
            assistant_end,
            user_start,
            user_end,
            end_token,
            thinking,
            tool_start,
            tool_end,
        )

    def prompt_ids(
        self, messages: list[dict[str, str]], tools: list[dict[str, Any]] | None = None
    ) -> list[int]:
        """The chat so far and the assistant header; ``tools`` go to the template as
        ``tools=`` (the hermes protocol)."""
        text = self.tokenizer.apply_chat_template(
            messages,
            tools=tools or None,
            add_generation_prompt=True,
            tokenize=False,
            enable_thinking=self.thinking,
        )
        return self.encode(text)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def environment_turn(self, content: str, role: str = "user") -> str:
        """What follows a model turn stopped at a tool call: close it, the result as a
        ``role`` turn (``user`` or ``tool``), and the next assistant header."""
        if role == "user":
            return self.assistant_end + self.user_start + content + self.user_end
        if self.tool_start is None or self.tool_end is None:
            raise ValueError(
                "the tokenizer's chat template has no tool role: the hermes protocol needs one "
                "(Qwen's templates have it)"
            )
        return self.assistant_end + self.tool_start + content + self.tool_end


def exchange_messages() -> list[dict[str, str]]:
    return [
        {"role": "user", "content": SENTINEL_A},
        {"role": "assistant", "content": SENTINEL_B},
    ]
