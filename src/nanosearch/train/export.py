"""The final model, exported for serving: the weights and tokenizer (its chat template made to
render episodes as training played them), YaRN rope scaling in its config unless the recipe
turns it off (the Jan-nano report serves 128K as factor 4 over a 32K base), and a note with the
serving flags of the run's tool protocol."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nanosearch.files import building
from nanosearch.protocol import RESULT_CHARS, ProtocolName

YARN_FACTOR = 4.0
YARN_ORIGINAL_CONTEXT = 32_768
SERVING_NOTE = "SERVING.md"
MODEL_FILES = ("*.safetensors", "*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken")
TRAINING_STATE = {"trainer_state.json", "training_args.bin"}

logger = logging.getLogger(__name__)


def export_model(
    checkpoint: Path,
    out: Path,
    factor: float | None = YARN_FACTOR,
    original_context: int = YARN_ORIGINAL_CONTEXT,
    protocol: ProtocolName = "xml",
    result_chars: int = RESULT_CHARS,
    thinking: bool = False,
) -> Path:
    """Copy the weights and tokenizer of ``checkpoint`` to ``out`` and set YaRN scaling by
    ``factor`` over ``original_context`` tokens (none when ``factor`` is None). The note gives
    the flags that serve and evaluate the model as it was trained: its tool ``protocol`` and the
    ``result_chars`` of a tool reply it saw. The tokenizer's chat template is the one that
    renders an episode as training played it (``thinking`` as in training)."""
    from transformers import AutoConfig

    with building(out) as staging:
        for pattern in MODEL_FILES:
            for file in checkpoint.glob(pattern):
                if file.name not in TRAINING_STATE:
                    shutil.copy2(file, staging / file.name)
        aligned = keep_episode_template(staging, thinking)
        serving = Serving(out, protocol, result_chars, thinking, aligned)
        config = AutoConfig.from_pretrained(staging)
        if factor is None:
            note = plain_serving_note(serving, config.max_position_embeddings)
        else:
            rope = dict(getattr(config, "rope_parameters", None) or {})
            rope.update(
                rope_type="yarn", factor=factor, original_max_position_embeddings=original_context
            )
            config.rope_parameters = rope
            config.max_position_embeddings = int(original_context * factor)
            config.save_pretrained(staging)
            note = serving_note(serving, factor, original_context)
        (staging / SERVING_NOTE).write_text(note)
    return out


def keep_episode_template(directory: Path, thinking: bool = False) -> bool:
    """Give the model directory's tokenizer the chat template that renders a multi-turn episode
    as training played it (:func:`nanosearch.env.chat.episode_template`), so a chat endpoint
    serving it re-renders the context the model trained on. Whether its template now does:
    False when the directory holds no tokenizer, or one whose template this cannot align
    (logged: served, such a model reads earlier turns otherwise than in training)."""
    from transformers import AutoTokenizer

    from nanosearch.env.chat import episode_template

    if not (directory / "tokenizer_config.json").is_file():
        return False
    tokenizer = AutoTokenizer.from_pretrained(directory)
    try:
        template = episode_template(tokenizer, thinking)
    except ValueError as error:
        logger.warning("%s: %s", directory, error)
        return False
    if template is None:
        return True
    tokenizer.chat_template = template
    with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
        tokenizer.save_pretrained(scratch)
        # Each file is swapped whole and the template last: a kill leaves a tokenizer that
        # loads, with the old template or the new one.
        written = sorted(Path(scratch).iterdir(), key=lambda file: file.suffix == ".jinja")
        for file in written:
            os.replace(file, directory / file.name)
    return True


THINKING = {
    False: "Thinking stays off (the chat template's `enable_thinking=False`), as in training.",
    True: "Thinking stays on (the chat template's `enable_thinking=True`), as in training; "
    "every turn's think block goes back to the endpoint with the conversation (nanosearch's "
    "native runtime puts back the one a `--reasoning-parser` hands apart).",
}
SAMPLING_FLAGS = """--override-generation-config '{"temperature": 0.7, "top_p": 0.8}'"""


@dataclass(frozen=True)
class Serving:
    model_dir: Path
    protocol: ProtocolName
    result_chars: int
    thinking: bool = False
    episode_template: bool = True

    def chat_lines(self) -> str:
        """How the served chat must look: thinking as in training, and the directory's own
        chat template, which re-renders earlier turns as training played them."""
        if not self.episode_template:
            template = (
                "Its chat template re-renders earlier turns otherwise than training played "
                "them (the export logged how): from its second turn on, a served model reads "
                "a context it never trained on."
            )
        else:
            template = (
                "Its chat template re-renders every earlier turn as training played it, think "
                "block included (Qwen3's own template drops it): serve it with this directory's "
                "template, not the base model's."
            )
        return f"{THINKING[self.thinking]} {template}"

    def vllm_flags(self) -> str:
        """hermes calls are vLLM tool calls; xml calls stay in the reply's text, where
        nanosearch's native runtime reads them (no vLLM tool parser reads ``<tool>``)."""
        if self.protocol == "hermes":
            return f"--enable-auto-tool-choice --tool-call-parser hermes \\\n  {SAMPLING_FLAGS}"
        return SAMPLING_FLAGS

    def protocol_line(self) -> str:
        if self.protocol == "hermes":
            return (
                "It calls tools in Qwen's hermes format (`<tool_call>` blocks): vLLM's hermes "
                "parser turns them into OpenAI tool calls, so any agent runtime can drive it."
            )
        return (
            "It calls tools in the xml protocol (`<tool>` in its text, results as `<result>` "
            "user turns): serve it without a tool parser and evaluate it with the native "
            "runtime (`--protocol xml`), which reads the calls from the text."
        )

    def vllm_section(self, context: int) -> str:
        return f"""## vLLM (OpenAI-compatible)

```
vllm serve {self.model_dir} --max-model-len {context} \\
  {self.vllm_flags()}
```
"""

    def evaluate_note(self) -> str:
        flags = f"--protocol {self.protocol} --result-chars {self.result_chars}"
        if self.thinking:
            flags += " --thinking on"
        return f"""## Evaluate it

In this process:

```
nanosearch eval simpleqa --model {self.model_dir} --index INDEX_DIR {flags} --out runs/eval
```

Served (the vLLM command above):

```
nanosearch eval simpleqa --model {self.model_dir} --base-url http://127.0.0.1:8000/v1 \\
  --index INDEX_DIR {flags} --out runs/eval
```
"""


def plain_serving_note(serving: Serving, context: int) -> str:
    return f"""# Serving this model

Its `config.json` keeps the trained rope settings (the recipe's `export.yarn_factor` is null):
a {context:,}-token context. {serving.chat_lines()} {serving.protocol_line()}

{serving.vllm_section(context)}
{serving.evaluate_note()}"""


def serving_note(serving: Serving, factor: float, original_context: int) -> str:
    context = int(original_context * factor)
    return f"""# Serving this model

Its `config.json` carries YaRN rope scaling: factor {factor:g} over a {original_context:,}-token
base, for a {context:,}-token context. {serving.chat_lines()} {serving.protocol_line()}

{serving.vllm_section(context)}
vLLM reads the rope scaling from the config. YaRN is static there: it scales short prompts too,
which can cost a little quality on them; serve with the base config when no request needs more
than {original_context:,} tokens.

## llama.cpp

Convert with `convert_hf_to_gguf.py {serving.model_dir}`, then:

```
llama-server -m model.gguf --jinja -c {context} \\
  --rope-scaling yarn --rope-scale {factor:g} --yarn-orig-ctx {original_context}
```

{serving.evaluate_note()}"""
