"""One stage-1 DAPO step on TRL's GRPOTrainer, against a plain language-model step.

With a GPU: a Qwen3-4B-shaped model with random weights (bf16); without: a tiny Qwen3 shape on
the CPU. Episodes are synthetic (prompt + completion with inserted tool-result spans masked
out, rewards with variance), so the step measured is the trainer's: log-probabilities, the
DAPO loss on the masked tokens, backward and optimizer. The baseline, measured in the same
run on the same token batch, is a plain causal-LM step (cross-entropy, backward, AdamW).

    python benchmarks/train_step_bench.py [--steps 3] [--batch 8] [--completion 1024]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from typing import Any

import torch
from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM, TrainerCallback

from nanosearch.assets import QWEN3_TOKENIZER
from nanosearch.models import TINY_QWEN3

QWEN3_4B = {
    "hidden_size": 2560,
    "intermediate_size": 9728,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40_960,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": True,
}
H100_BF16_FLOPS = 989e12
PROMPT_TOKENS = 300


def build_model(shape: dict[str, Any], tokenizer: Any, dtype: torch.dtype, device: str) -> Any:
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )
    torch.manual_seed(0)
    return Qwen3ForCausalLM(config).to(dtype=dtype, device=device)


def synthetic_episodes(tokenizer: Any, batch: int, completion: int) -> dict[str, Any]:
    """Prompt ids, completion ids ending in EOS, and an env mask with two result spans."""
    rng = random.Random(0)
    vocab = min(len(tokenizer), 150_000)
    prompts, completions, masks = [], [], []
    for _ in range(batch):
        prompts.append([rng.randrange(vocab) for _ in range(PROMPT_TOKENS)])
        ids = [rng.randrange(vocab) for _ in range(completion - 1)] + [tokenizer.eos_token_id]
        mask = [1] * completion
        for start in (completion // 4, completion // 2):
            mask[start : start + completion // 8] = [0] * (completion // 8)
        completions.append(ids)
        masks.append(mask)
    rewards = [float(i % 2) for i in range(batch)]
    return {
        "prompt_ids": prompts,
        "completion_ids": completions,
        "env_mask": masks,
        "logprobs": None,
        "episode_reward": rewards,
    }


class StepTimer(TrainerCallback):
    def __init__(self, device: str) -> None:
        self.device = device
        self.times: list[float] = []
        self.started = 0.0

    def _sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()

    def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
        self._sync()
        self.started = time.perf_counter()

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        self._sync()
        self.times.append(time.perf_counter() - self.started)


def dapo_step(
    model: Any, tokenizer: Any, episodes: dict[str, Any], steps: int, device: str
) -> list[float]:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    batch = len(episodes["prompt_ids"])

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        return episodes

    def reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        return kwargs["episode_reward"]

    timer = StepTimer(device)
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out,
            max_steps=steps + 1,
            per_device_train_batch_size=batch,
            num_generations=batch,
            loss_type="dapo",
            epsilon=0.2,
            epsilon_high=0.28,
            beta=0.0,
            mask_truncated_completions=True,
            learning_rate=1e-6,
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            disable_tqdm=True,
            use_cpu=device == "cpu",
            bf16=device == "cuda",
            activation_checkpointing=device == "cuda",
            max_completion_length=len(episodes["completion_ids"][0]),
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=config,
            processing_class=tokenizer,
            train_dataset=Dataset.from_list([{"prompt": "q"}] * batch * (steps + 1)),
            rollout_func=rollout,
            callbacks=[timer],
        )
        trainer.train()
    return timer.times[1:]


def plain_step(model: Any, episodes: dict[str, Any], steps: int, device: str) -> list[float]:
    ids = torch.tensor(
        [p + c for p, c in zip(episodes["prompt_ids"], episodes["completion_ids"], strict=True)],
        device=device,
    )
    labels = ids.clone()
    labels[:, :PROMPT_TOKENS] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    model.train()
    times = []
    for _ in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return times[1:]


def peak_memory_gib(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--completion", type=int, default=None)
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    shape = QWEN3_4B if gpu else {**TINY_QWEN3, "hidden_size": 256, "num_hidden_layers": 4}
    batch = args.batch or (8 if gpu else 4)
    completion = args.completion or (4096 if gpu else 256)
    tokenizer = AutoTokenizer.from_pretrained(QWEN3_TOKENIZER)
    episodes = synthetic_episodes(tokenizer, batch, completion)
    dtype = torch.bfloat16 if gpu else torch.float32

    model = build_model(shape, tokenizer, dtype, device)
    params = sum(p.numel() for p in model.parameters())
    dapo_times = dapo_step(model, tokenizer, episodes, args.steps, device)
    dapo_memory = peak_memory_gib(device)
    del model
    if gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = build_model(shape, tokenizer, dtype, device)
    plain_times = plain_step(model, episodes, args.steps, device)
    plain_memory = peak_memory_gib(device)

    tokens = batch * (PROMPT_TOKENS + completion)
    name = "Qwen3-4B shape" if gpu else "tiny Qwen3 shape"
    print(
        f"{name}: {params / 1e6:,.1f}M parameters on {device}; batch {batch} × "
        f"({PROMPT_TOKENS} prompt + {completion} completion tokens, 25% of them masked "
        f"tool results); median of {args.steps} steps after one warm-up"
    )
    print(f"{'step':<28}{'s/step':>9}{'tokens/s':>11}{'peak GiB':>10}{'MFU':>8}")
    rows = (
        ("DAPO (TRL GRPOTrainer)", dapo_times, dapo_memory),
        ("plain LM (baseline)", plain_times, plain_memory),
    )
    for label, times, memory in rows:
        seconds = statistics.median(times)
        mfu = f"{6 * params * tokens / seconds / H100_BF16_FLOPS:.1%}" if gpu else "n/a"
        print(f"{label:<28}{seconds:>9.3f}{tokens / seconds:>11,.0f}{memory:>10.2f}{mfu:>8}")
    ratio = statistics.median(dapo_times) / statistics.median(plain_times)
    print(f"DAPO step ÷ plain LM step: {ratio:.2f}×")
    if not gpu:
        print(
            "MFU needs a GPU's peak FLOPs. On CPU, peak memory is the process's max RSS so "
            "far, so the baseline's figure includes the DAPO step's peak."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
