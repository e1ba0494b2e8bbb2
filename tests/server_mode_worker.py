"""One process of the two-process server-mode test (``tests/test_train_parts.py``).

TRL's real server-mode generation code runs: it gathers every process's prompts, the main
process asks the vLLM server, and each process takes its slice of the broadcast. The vLLM
server itself cannot run here (it needs a GPU), so a stand-in answers each prompt with
``<answer>N</answer>``, N being the prompt's length, which tells whose prompt a completion is.
Prints one JSON line: the answers this process got back, unpadded and padded.
"""

from __future__ import annotations

import json
import os
from typing import Any

from accelerate import Accelerator
from transformers import AutoTokenizer
from trl.generation.vllm_generation import VLLMGeneration

from nanosearch.assets import QWEN3_TOKENIZER
from nanosearch.env import GenerationRequest
from nanosearch.train.rollout import TrainerVLLMPolicy


class LengthEchoServer:
    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def generate(self, prompts: list[list[int]], n: int = 1, **_: Any) -> dict[str, Any]:
        rows = [
            self.tokenizer.encode(f"<answer>{len(p)}</answer>", add_special_tokens=False)
            for p in prompts
            for _ in range(n)
        ]
        return {
            "prompt_ids": prompts,
            "completion_ids": rows,
            "logprobs": [[[-0.5]] * len(r) for r in rows],
        }


def server_mode_generation(accelerator: Accelerator, tokenizer: Any) -> VLLMGeneration:
    generation = object.__new__(VLLMGeneration)  # no server to connect to: see the docstring
    settings = {
        "accelerator": accelerator,
        "mode": "server",
        "vllm_client": LengthEchoServer(tokenizer),
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
        "min_p": None,
        "repetition_penalty": 1.0,
        "max_completion_length": 16,
        "logprobs": 0,
        "structured_outputs_regex": None,
        "generation_kwargs": {},
        "enable_sleep_mode": False,
    }
    for name, value in settings.items():
        setattr(generation, name, value)
    return generation


def main() -> None:
    accelerator = Accelerator(cpu=True)
    tokenizer = AutoTokenizer.from_pretrained(QWEN3_TOKENIZER)
    generation = server_mode_generation(accelerator, tokenizer)
    lengths = [int(n) for n in os.environ["PROMPT_LENGTHS"].split(",") if n]
    requests = [GenerationRequest(i, 0, [1] * n, 16) for i, n in enumerate(lengths)]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    got: dict[str, Any] = {"rank": accelerator.process_index, "sent": lengths}
    unpadded = TrainerVLLMPolicy(generation, tokenizer, end)
    try:
        got["unpadded"] = [g.text for g in unpadded.generate(requests)]
    except ValueError as error:  # zip(strict=True): TRL handed back another count
        got["unpadded"] = f"error: {error}"
    padded = TrainerVLLMPolicy(generation, tokenizer, end, accelerator=accelerator)
    got["padded"] = [g.text for g in padded.generate(requests)]
    print(json.dumps(got), flush=True)
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main()
