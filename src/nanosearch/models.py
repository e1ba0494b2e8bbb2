"""Loading a policy model (for training, evaluation and the rollout command, not the episode
loop, which takes any policy): a hub id or a local directory, and the tiny Qwen3 model
built from a config that stands in for Qwen3-4B on machines without weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanosearch.errors import NanosearchError
from nanosearch.files import building

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


def build_tiny_qwen3(
    tokenizer_dir: str | Path, out: str | Path, seed: int = 0, eos_logit: float | None = None
) -> Path:
    """Save a randomly initialised Qwen3-architecture model (head_dim 64, two layers) with the
    given tokenizer to ``out``, loadable like any checkpoint with ``from_pretrained``.

    ``eos_logit`` gives the end-of-turn token about that logit at every position (the others
    stay near 0), so that turns end after roughly ``vocab / exp(eos_logit)`` tokens: see
    :func:`_lift_end_of_turn`.
    """
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **{**TINY_QWEN3, "tie_word_embeddings": eos_logit is None},
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    if eos_logit is not None:
        _lift_end_of_turn(model, tokenizer.eos_token_id, eos_logit)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out)
    with building(out) as staging:  # a kill mid-save leaves no config.json without weights
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return out


def _lift_end_of_turn(model: Any, token_id: int, logit: float) -> None:
    """Carry a constant 1 in channel 0 of the residual stream (every embedding has it, no layer
    writes to it) and read it out only into ``token_id``'s output row: a bias on one logit, in
    a model without bias parameters. Untied embeddings keep the input side unaffected."""
    import torch

    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 1.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0, :] = 0.0
            layer.mlp.down_proj.weight[0, :] = 0.0
        model.lm_head.weight[:, 0] = 0.0
        probe = torch.arange(1000, 1064).unsqueeze(0)
        hidden = model.model(input_ids=probe).last_hidden_state
        model.lm_head.weight[token_id, 0] = logit / hidden[..., 0].mean()


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
