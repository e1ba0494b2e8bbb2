"""Token-level chat framing: the prompt, and the text the environment inserts between turns.

The framing is read off the tokenizer's own chat template (rendered around sentinel strings),
so any ChatML-style template (Qwen2.5, Qwen3, QwQ) works, and thinking can be switched off
through ``enable_thinking=False`` exactly as the template does it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SENTINEL_A = "\x00NANOSEARCH_A\x00"
SENTINEL_B = "\x00NANOSEARCH_B\x00"
SENTINEL_C = "\x00NANOSEARCH_C\x00"

# Qwen3's rule for an assistant turn: its think block is rendered only after the last user
# query, and only for the latest turn or a non-empty block.
HISTORY_THINKING_RULE = re.compile(
    r"\{%-\s*if loop\.index0 > ns\.last_query_index\s*%\}.*?\{%-\s*endif\s*%\}\s*"
    r"\{%-\s*else\s*%\}.*?\{%-\s*endif\s*%\}",
    re.DOTALL,
)
EVERY_TURN_THINKING = (
    r"{{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + "
    r"'\n</think>\n\n' + content.lstrip('\n') }}"
)


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


def episode_template(tokenizer: Any, thinking: bool = False) -> str | None:
    """A chat template that renders a multi-turn episode token for token as training plays it,
    or None when the tokenizer's own template already does.

    Training plays an episode as one growing token stream, so every assistant turn keeps the
    think block it was generated after (the empty ``<think>\\n\\n</think>`` with thinking off).
    Qwen3's template drops that block from every turn but the latest when it re-renders a
    conversation, so a model served with it reads, from its second turn on, a context it never
    trained on. The template returned renders the block on every assistant turn.

    Raises ValueError when the template differs from training in a way this does not know."""
    if renders_like_training(tokenizer, thinking):
        return None
    original = tokenizer.chat_template
    rewritten, found = HISTORY_THINKING_RULE.subn(lambda _: EVERY_TURN_THINKING, original or "")
    if found == 1:
        tokenizer.chat_template = rewritten
        try:
            if renders_like_training(tokenizer, thinking):
                return rewritten
        finally:
            tokenizer.chat_template = original
    raise ValueError(
        "the tokenizer's chat template renders an earlier assistant turn differently from the "
        "token stream training plays, and it is not Qwen3's template, whose rule this rewrites: "
        "a served model would read contexts it never trained on"
    )


def renders_like_training(tokenizer: Any, thinking: bool = False) -> bool:
    """Whether the chat template re-renders a two-turn episode (its result as a user message,
    and as a ``tool`` message where the template has that role) as the very text training
    plays: the prompt, the model's first turn, then the environment's turn."""
    chat = ChatFormat.from_tokenizer(tokenizer, thinking)
    turn = "<think>\nfirst\n</think>\n\n<tool>x</tool>" if thinking else "<tool>x</tool>"
    opening = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]
    prompt = tokenizer.apply_chat_template(
        opening, add_generation_prompt=True, tokenize=False, enable_thinking=thinking
    )
    roles = ["user"] if chat.tool_start is None else ["user", "tool"]
    for role in roles:
        messages = [
            *opening,
            {"role": "assistant", "content": turn},
            {"role": role, "content": "r"},
        ]
        rendered = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, enable_thinking=thinking
        )
        if rendered != prompt + turn + chat.environment_turn("r", role):
            return False
    return True
