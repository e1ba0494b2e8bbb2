"""The final model, exported for serving: the weights and tokenizer, YaRN rope scaling in its
config unless the recipe turns it off (the Jan-nano report serves 128K as factor 4 over a 32K
base), and a note with the serving flags."""

from __future__ import annotations

import shutil
from pathlib import Path

from nanosearch.files import building

YARN_FACTOR = 4.0
YARN_ORIGINAL_CONTEXT = 32_768
SERVING_NOTE = "SERVING.md"
MODEL_FILES = ("*.safetensors", "*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken")
TRAINING_STATE = {"trainer_state.json", "training_args.bin"}


def export_model(
    checkpoint: Path,
    out: Path,
    factor: float | None = YARN_FACTOR,
    original_context: int = YARN_ORIGINAL_CONTEXT,
) -> Path:
    """Copy the weights and tokenizer of ``checkpoint`` to ``out`` and set YaRN scaling by
    ``factor`` over ``original_context`` tokens (none when ``factor`` is None)."""
    from transformers import AutoConfig

    with building(out) as staging:
        for pattern in MODEL_FILES:
            for file in checkpoint.glob(pattern):
                if file.name not in TRAINING_STATE:
                    shutil.copy2(file, staging / file.name)
        config = AutoConfig.from_pretrained(staging)
        if factor is None:
            note = plain_serving_note(out, config.max_position_embeddings)
        else:
            rope = dict(getattr(config, "rope_parameters", None) or {})
            rope.update(
                rope_type="yarn", factor=factor, original_max_position_embeddings=original_context
            )
            config.rope_parameters = rope
            config.max_position_embeddings = int(original_context * factor)
            config.save_pretrained(staging)
            note = serving_note(out, factor, original_context)
        (staging / SERVING_NOTE).write_text(note)
    return out


THINKING_OFF = "Thinking stays off (the chat template's `enable_thinking=False`), as in training."
VLLM_TOOL_FLAGS = """--enable-auto-tool-choice --tool-call-parser hermes \\
  --override-generation-config '{"temperature": 0.7, "top_p": 0.8}'"""


def evaluate_note(model_dir: Path) -> str:
    return f"""## Evaluate it

```
nanosearch eval simpleqa --model {model_dir} --index INDEX_DIR --out runs/eval
```
"""


def plain_serving_note(model_dir: Path, context: int) -> str:
    return f"""# Serving this model

Its `config.json` keeps the trained rope settings (the recipe's `export.yarn_factor` is null):
a {context:,}-token context. {THINKING_OFF}

## vLLM (OpenAI-compatible, with tool calls)

```
vllm serve {model_dir} --max-model-len {context} \\
  {VLLM_TOOL_FLAGS}
```

{evaluate_note(model_dir)}"""


def serving_note(model_dir: Path, factor: float, original_context: int) -> str:
    context = int(original_context * factor)
    return f"""# Serving this model

Its `config.json` carries YaRN rope scaling: factor {factor:g} over a {original_context:,}-token
base, for a {context:,}-token context. {THINKING_OFF}

## vLLM (OpenAI-compatible, with tool calls)

```
vllm serve {model_dir} --max-model-len {context} \\
  {VLLM_TOOL_FLAGS}
```

vLLM reads the rope scaling from the config. YaRN is static there: it scales short prompts too,
which can cost a little quality on them; serve with the base config when no request needs more
than {original_context:,} tokens.

## llama.cpp

Convert with `convert_hf_to_gguf.py {model_dir}`, then:

```
llama-server -m model.gguf --jinja -c {context} \\
  --rope-scaling yarn --rope-scale {factor:g} --yarn-orig-ctx {original_context}
```

{evaluate_note(model_dir)}"""
