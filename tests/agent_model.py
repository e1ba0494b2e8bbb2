"""A tiny Qwen3-architecture model fitted to call the search tool: the stand-in for a trained
search agent, since no pretrained weights can be had here.

A random tiny model never writes a tool call, so nothing would reach the MCP server. This one
is the same tiny model, trained for a few seconds until, after any prompt, it greedily writes
one fixed turn that every runtime reads as a ``web_search`` call: a smolagents ``<code>`` block
(the CodeAgent stops at ``</code>``), then a ``<tool_call>`` block (vLLM's hermes parser and our
XML protocol both read it). It never answers, so the runtimes also meet their turn limits.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

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
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "web_search",
            "description": "Search the web.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def build_tool_calling_model(
    tokenizer_dir: Path, out: Path, questions: list[str], steps: int = 160, seed: int = 0
) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
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
        prompt = _prompt(tokenizer, questions, rng)
        ids = torch.tensor([prompt + target])
        hidden = model.model(input_ids=ids).last_hidden_state
        logits = model.lm_head(hidden[0, len(prompt) - 1 : -1])
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(target))
        optimizer.zero_grad()
        loss.backward()
        if os.environ.get("AGENT_MODEL_DEBUG") and step % 25 == 0:
            print(step, len(prompt), round(loss.item(), 4), flush=True)
        optimizer.step()
        schedule.step()
    model.eval()
    # vLLM serves it in bfloat16: the turn must survive that rounding, on short and long prompts
    checked = model.to(torch.bfloat16)
    for length in (0, 400, 1200, 3000):
        prompt = _prompt(tokenizer, questions, random.Random(length), length)
        with torch.no_grad():
            output = checked.generate(
                torch.tensor([prompt]), max_new_tokens=len(target) + 4, do_sample=False
            )
        written = tokenizer.decode(output[0, len(prompt) :], skip_special_tokens=True)
        if written.strip() != TOOL_TURN:
            raise AssertionError(f"the fitted model writes {written!r} (loss {loss.item():.4f})")
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _prompt(
    tokenizer: object, questions: list[str], rng: random.Random, length: int | None = None
) -> list[int]:
    """A chat prompt of the kinds the runtimes send: with or without a long system prompt or
    tools, and sometimes after earlier tool turns."""
    length = length if length is not None else rng.choice([0, 0, 0, 100, 400, 1200, 3000])
    filler = " ".join(rng.choice(questions) for _ in range(length // 15 + 1))
    messages = []
    if length:
        messages.append({"role": "system", "content": filler})
    messages.append({"role": "user", "content": rng.choice(questions)})
    for _ in range(rng.choice([0, 0, 1, 2])):
        messages.append({"role": "assistant", "content": TOOL_TURN})
        result = f"<result>\n{rng.choice(questions)}\n</result>"
        messages.append({"role": "user", "content": result})
    text = tokenizer.apply_chat_template(  # type: ignore[attr-defined]
        messages,
        tools=TOOLS if rng.random() < 0.3 else None,
        add_generation_prompt=True,
        tokenize=False,
        enable_thinking=False,
    )
    return tokenizer.encode(text, add_special_tokens=False)  # type: ignore[attr-defined]
