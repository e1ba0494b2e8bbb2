"""Loading a policy model: a hub id or a local directory, and the tiny Qwen3-architecture model
built from a config that stands in for Qwen3-4B on machines without weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanosearch.errors import NanosearchError

TINY_QWEN3 = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 64,
    "max_position_embeddings": 32_768,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": True,
}


def build_tiny_qwen3(tokenizer_dir: str | Path, out: str | Path, seed: int = 0) -> Path:
    """Save a randomly initialised Qwen3-architecture model (head_dim 64, two layers) with the
    given tokenizer to ``out``, loadable like any checkpoint with ``from_pretrained``."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_QWEN3,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def load_model(name_or_path: str, dtype: str = "auto") -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a hub id or a local directory, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
    except (OSError, ValueError) as error:
        raise NanosearchError(f"cannot load model {name_or_path!r}: {error}") from error
    model.eval()
    return model, tokenizer
