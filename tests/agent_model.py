"""A tiny Qwen3-architecture model fitted to call the search tool: the stand-in for a trained
search agent, since no pretrained weights can be had here.

A random tiny model never writes a tool call, so nothing would reach the MCP server. This one
is the same kind of tiny model, trained until it greedily writes one fixed turn that every
runtime reads as a ``web_search`` call: a smolagents ``<code>`` block (the CodeAgent stops at
``</code>``), then a ``<tool_call>`` block (vLLM's hermes parser and our XML protocol both read
it). It never answers, so the runtimes also meet their turn limits.

It is fitted on the very prompts the three runtimes send: they are first run, through MCP on
the test index, against a scripted endpoint that always replies with that turn, and every
prompt the endpoint renders is kept (the tools rendered as the request gave them, as vLLM
renders them). Random chat prompts are mixed in so it does not depend on
them alone.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

from nanosearch.eval.local_server import (
    ChatRequest,
    LocalChatModel,
    PendingTurn,
    serve_chat_model,
)

CODE_QUERY = "Bubye River"
QUERY = "Limpopo tributary"
TOOL_TURN = (
    f'<code>\nweb_search(query="{CODE_QUERY}")\n</code>\n'
    f'<tool_call>\n{{"name": "web_search", "arguments": {{"query": "{QUERY}"}}}}\n</tool_call>'
)
SHAPE = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "max_position_embeddings": 32_768,
    "tie_word_embeddings": True,
}
RUNTIMES = ("native", "react", "codeagent")


class ScriptedChatModel(LocalChatModel):
    """Serves the chat template's rendering of each request, always replying ``TOOL_TURN``, and
    keeps every prompt it rendered."""

    def __init__(self, tokenizer: Any) -> None:
        super().__init__(None, tokenizer, max_tokens=128, context=SHAPE["max_position_embeddings"])
        self.prompts: list[str] = []
        self._reply = [*tokenizer.encode(TOOL_TURN, add_special_tokens=False)]

    def _prompt(self, request: ChatRequest) -> str:
        prompt = super()._prompt(request)
        self.prompts.append(prompt)
        return prompt

    def _generate(self, batch: list[PendingTurn]) -> list[list[int]]:
        return [[*self._reply, self.tokenizer.eos_token_id][: turn.max_new] for turn in batch]


def record_prompts(tokenizer: Any, index_dir: Path, questions: list[dict[str, Any]]) -> list[str]:
    from nanosearch.env import EnvConfig
    from nanosearch.eval.chat_client import ChatSettings
    from nanosearch.eval.mcp_connection import McpTarget
    from nanosearch.eval.runner import EvalRun, OfflineGrader, run_eval

    scripted = ScriptedChatModel(tokenizer)
    with serve_chat_model(scripted) as base, tempfile.TemporaryDirectory() as runs:
        for agent in RUNTIMES:
            run_eval(
                EvalRun(
                    agent=agent,
                    out=Path(runs) / agent,
                    questions=questions,
                    chat=ChatSettings(base, "local", temperature=0.0, max_tokens=96, retries=0),
                    target=McpTarget(index=index_dir),
                    grader=OfflineGrader(),
                    limits=EnvConfig(max_turns=2),
                    concurrency=1,
                    progress=False,
                )
            )
    return sorted(set(scripted.prompts))


def build_tool_calling_model(
    tokenizer_dir: Path,
    out: Path,
    index_dir: Path,
    questions: list[dict[str, Any]],
    steps: int = 240,
    seed: int = 0,
) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    recorded = [
        tokenizer.encode(text, add_special_tokens=False)
        for text in record_prompts(tokenizer, index_dir, questions)
    ]
    problems = [q["problem"] for q in questions]
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **SHAPE,
        )
    )
    target = [*tokenizer.encode(TOOL_TURN, add_special_tokens=False), tokenizer.eos_token_id]
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 20) * (1 - step / steps)
    )
    model.train()
    for step in range(steps):
        prompt = rng.choice(recorded) if rng.random() < 0.75 else _prompt(tokenizer, problems, rng)
        loss = _train_step(model, optimizer, prompt, target)
        schedule.step()
        if os.environ.get("AGENT_MODEL_DEBUG") and step % 25 == 0:
            print(step, len(prompt), round(loss, 4), flush=True)
    # vLLM serves it in bfloat16: the turn must survive that rounding on every recorded prompt.
    # Prompts it still gets wrong get extra rounds of training at a lower rate.
    for _ in range(EXTRA_ROUNDS):
        failing = _failing(model, tokenizer, recorded)
        if not failing:
            break
        for group in optimizer.param_groups:
            group["lr"] = 5e-4
        model.train()
        for _ in range(EXTRA_STEPS):
            prompt = rng.choice(failing) if rng.random() < 0.7 else rng.choice(recorded)
            loss = _train_step(model, optimizer, prompt, target)
    else:
        failing = _failing(model, tokenizer, recorded)
        if failing:
            written = _writes(_bf16(model), tokenizer, failing[0])
            raise AssertionError(f"the fitted model writes {written!r} on {len(failing)} prompts")
    model.eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


EXTRA_ROUNDS = 4
EXTRA_STEPS = 60


def _train_step(model: Any, optimizer: Any, prompt: list[int], target: list[int]) -> float:
    import torch

    ids = torch.tensor([prompt + target])
    hidden = model.model(input_ids=ids).last_hidden_state
    logits = model.lm_head(hidden[0, len(prompt) - 1 : -1])
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(target))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _bf16(model: Any) -> Any:
    """A bfloat16 copy, run as vLLM runs the model."""
    import copy

    import torch

    return copy.deepcopy(model).to(torch.bfloat16).eval()


def _failing(model: Any, tokenizer: Any, prompts: list[list[int]]) -> list[list[int]]:
    checked = _bf16(model)
    return [prompt for prompt in prompts if _writes(checked, tokenizer, prompt) != TOOL_TURN]


def _writes(checked: Any, tokenizer: Any, prompt: list[int]) -> str:
    """What a model greedily writes after ``prompt``."""
    import torch

    with torch.no_grad():
        output = checked.generate(torch.tensor([prompt]), max_new_tokens=72, do_sample=False)
    return tokenizer.decode(output[0, len(prompt) :], skip_special_tokens=True).strip()


def _prompt(tokenizer: Any, questions: list[str], rng: random.Random) -> list[int]:
    """A random chat prompt: with or without a long system prompt, after earlier tool turns."""
    length = rng.choice([0, 0, 100, 400, 1200])
    messages = []
    if length:
        filler = " ".join(rng.choice(questions) for _ in range(length // 20 + 1))
        messages.append({"role": "system", "content": filler})
    messages.append({"role": "user", "content": rng.choice(questions)})
    for _ in range(rng.choice([0, 1])):
        messages.append({"role": "assistant", "content": TOOL_TURN})
        messages.append(
            {"role": "user", "content": f"<result>\n{rng.choice(questions)}\n</result>"}
        )
    text = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, enable_thinking=False
    )
    return tokenizer.encode(text, add_special_tokens=False)
