"""A training recipe: one YAML file validated by pydantic before any work starts.

Every section forbids unknown keys, so a typo fails with the key's dotted path instead of being
silently ignored. Paths in a recipe are relative to the recipe's directory.
"""

from __future__ import annotations

import difflib
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nanosearch.errors import NanosearchError
from nanosearch.protocol import ProtocolName
from nanosearch.rewards import REWARDS, STAGES, Stage, stage_from_config
from nanosearch.train.export import YARN_FACTOR, YARN_ORIGINAL_CONTEXT
from nanosearch.train.recipe_files import (
    BUNDLED,
    PATH_FIELDS,
    names_a_path,
    read_recipe_mapping,
    recipe_file,
)
from nanosearch.world.base import BaseSettings, LossOn, base_source, check_result_budgets
from nanosearch.world.files import TokenizerKind
from nanosearch.world.generator import check_lexicon_holds
from nanosearch.world.transcripts import AnswerDraw, FollowDraw


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TinyModel(Section):
    """A randomly initialised Qwen3-architecture model built from a config (no download).

    ``eos_logit`` lifts the end-of-turn token's logit: a random model over a 151K vocabulary
    otherwise never ends a turn, every episode runs out of budget, every reward in a group is
    equal and RL has nothing to learn from. It stands in for a pretrained model's ability to
    stop, and training is free to change it.
    """

    seed: int = 0
    eos_logit: float | None = Field(default=9.0, ge=0)


_BASE = BaseSettings()


class WorldBase(Section):
    """The world's format-only base (:mod:`nanosearch.world.base`): its shape and pretraining,
    :class:`BaseSettings`' fields with their defaults and the bounds a recipe may give them."""

    hidden_size: int = Field(default=_BASE.hidden_size, ge=8)
    intermediate_size: int = Field(default=_BASE.intermediate_size, ge=8)
    num_hidden_layers: int = Field(default=_BASE.num_hidden_layers, ge=1)
    num_attention_heads: int = Field(default=_BASE.num_attention_heads, ge=1)
    num_key_value_heads: int = Field(default=_BASE.num_key_value_heads, ge=1)
    head_dim: int = Field(default=_BASE.head_dim, ge=8)
    transcripts_per_question: int = Field(default=_BASE.transcripts_per_question, ge=1)
    epochs: int = Field(default=_BASE.epochs, ge=1)
    batch_size: int = Field(default=_BASE.batch_size, ge=1)
    learning_rate: float = Field(default=_BASE.learning_rate, gt=0)
    max_turns: int = Field(default=_BASE.max_turns, ge=1)
    token_budget: int = Field(default=_BASE.token_budget, ge=64)
    result_chars: int = Field(default=_BASE.result_chars, ge=64)
    seed: int = _BASE.seed
    # pretrain on the transcripts of this many fresh worlds (seeds 10000 on) instead of the
    # task world's; their names are new, so they are copied rather than learnt by heart
    worlds: int = Field(default=_BASE.worlds, ge=0)
    world_entities: int = Field(default=_BASE.world_entities, ge=50)
    # chance that a query drawn from the question is one of its names, not a random span
    question_name: float = Field(default=_BASE.question_name, ge=0, le=1)
    # where a transcript's answer is drawn from: every result seen, or the top entry of the
    # latest result (every answer a copy of what was last read; nanosearch.world.transcripts)
    answer_from: AnswerDraw = _BASE.answer_from
    # leave the question's own names and values out of the answer's draw ("Where was X born?"
    # is not answered "X"): chosen with the question, never with its answer
    answer_unasked: bool = _BASE.answer_unasked
    # where a further search's name is drawn from: any earlier result, or the top entry just
    # read less the question's names (a link followed: how a second hop is found)
    follow_from: FollowDraw = _BASE.follow_from
    # the loss on the model's own turns, or on every token after the system prompt
    learn: LossOn = _BASE.learn
    # loss weight of the final answer's tokens: the one copy a transcript makes from its results
    answer_weight: float = Field(default=_BASE.answer_weight, gt=0)
    # result characters of a first-epoch curriculum, shortest first, before result_chars:
    # short results show few names, and a copy among few is learnt first
    # (BaseSettings.result_budgets)
    shorter_results: list[int] = Field(default_factory=list)
    # rows of a random token span said twice in every batch: the in-context copying a
    # pretrained model learns from text (nanosearch.world.base.copy_span_batch)
    copy_spans: int = Field(default=_BASE.copy_spans, ge=0)
    # continue a shipped base (its name) or a base directory instead of random weights: its
    # shape and tokenizer must be these
    start_from: str = _BASE.start_from
    # start from the package's base pretrained on this very world with these very settings,
    # when it ships one (nanosearch.assets.WORLD_BASES); false pretrains it in the run
    bundled: bool = True

    @model_validator(mode="after")
    def lexicon_holds_names(self) -> WorldBase:
        if self.worlds:
            within_lexicon(self.world_entities, "model.world_base.world_entities")
        return self

    @model_validator(mode="after")
    def start_is_a_base(self) -> WorldBase:
        if self.start_from:
            try:
                base_source(self.start_from)
            except NanosearchError as error:
                raise ValueError(str(error)) from None
        return self

    @model_validator(mode="after")
    def results_rise(self) -> WorldBase:
        check_result_budgets(self.shorter_results, self.result_chars)
        return self

    def settings(self) -> BaseSettings:
        """The base's pretraining settings."""
        return BaseSettings(**self.model_dump(exclude={"bundled"}))


class ModelSection(Section):
    name_or_path: str | None = None
    tokenizer: str | None = None
    tiny: TinyModel | None = None
    world_base: WorldBase | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"

    @model_validator(mode="after")
    def one_source(self) -> ModelSection:
        sources = [self.name_or_path, self.tiny, self.world_base]
        if sum(source is not None for source in sources) != 1:
            raise ValueError("give exactly one of 'name_or_path', 'tiny' and 'world_base'")
        if self.tiny is not None and self.tokenizer is None:
            raise ValueError("a tiny model needs 'tokenizer' (a directory or 'bundled')")
        return self


class DataSection(Section):
    """MuSiQue-Ans: a JSONL path, a hub dataset id, or ``bundled`` (the 100-question sample)."""

    musique: str = BUNDLED
    split: str = "train"
    mixture: dict[int, int] = Field(default_factory=lambda: {2: 7000, 3: 2150, 4: 1175})
    dev_fraction: float = Field(default=0.1, gt=0, lt=1)
    seed: int = 0


class WorldSection(Section):
    """A synthetic world (:mod:`nanosearch.world`) generated into the run directory: its
    questions replace ``data`` and its corpus replaces ``index.corpus``."""

    seed: int = 0
    entities: int = Field(default=600, ge=50)
    # own: learnt from this world's text; shared: the one tokenizer of every world, which a base
    # pretrained on fresh worlds (model.world_base.worlds) needs (nanosearch.world.files)
    tokenizer: TokenizerKind = "own"

    @model_validator(mode="after")
    def lexicon_holds_names(self) -> WorldSection:
        if self.tokenizer == "shared":
            within_lexicon(self.entities, "world.entities")
        return self


def within_lexicon(entities: int, where: str) -> None:
    """A shared-tokenizer world draws its names from the fixed lexicon, which names only so
    many entities: refuse more when the recipe is read, not once a run has started."""
    try:
        check_lexicon_holds(entities)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


class EvaluationSection(Section):
    """Held-out evaluation during training: greedy episodes on the dev split every
    ``every_steps`` steps and at each stage's end (the test split only before and after
    training). One fixed environment for every evaluation, so the curves are comparable."""

    every_steps: int = Field(default=10, ge=1)
    dev_questions: int | None = Field(default=None, ge=1)
    max_turns: int = Field(default=4, ge=1)
    context_tokens: int = Field(default=1024, ge=64)


class IndexSection(Section):
    """The search index: an existing directory, or built from ``corpus`` into the run directory
    (``bundled`` is the MuSiQue sample's paragraphs, the same paragraphs as the data)."""

    path: str | None = None
    corpus: str = BUNDLED
    corpus_format: str = "auto"
    retriever: Literal["bm25", "dense", "hybrid"] = "bm25"


class DapoSection(Section):
    """DAPO's techniques, each switchable, and the KL term (off by default). The fourth, the
    soft overlong punishment, is the reward ``overlong_penalty``, weighed in each stage like
    any reward, with its window in the recipe's ``overlong`` section.

    Dynamic sampling drops groups whose ``filter_signal`` is equal across the group: DAPO's
    accuracy (``correctness``, the default) or the shaped ``total``.

    Two of TRL's policy-loss options beyond DAPO, off by default: ``top_entropy_quantile``
    keeps in the loss only that share of the model's tokens with the highest entropy (ρ of
    *Beyond the 80/20 Rule*, which recommends 0.2; tool output is never among them), and
    ``entropy_coef`` adds an entropy bonus to the loss.
    """

    loss_type: Literal["dapo", "grpo", "bnpo", "dr_grpo"] = "dapo"
    epsilon: float = Field(default=0.2, gt=0)
    epsilon_high: float = Field(default=0.28, gt=0)
    beta: float = Field(default=0.0, ge=0)
    dynamic_sampling: bool = True
    filter_signal: Literal["correctness", "total"] = "correctness"
    max_sampling_rounds: int = Field(default=3, ge=1)
    mask_truncated_completions: bool = True
    scale_rewards: Literal["group", "batch", "none"] = "group"
    top_entropy_quantile: float = Field(default=1.0, ge=0, le=1)
    entropy_coef: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def overlong_moved(cls, data: Any) -> Any:
        moved = {"soft_overlong", "overlong_max_tokens", "overlong_cache_tokens"}
        if isinstance(data, dict) and moved & set(data):
            raise ValueError(
                f"{sorted(moved & set(data))[0]} has moved: the soft overlong punishment is "
                "the reward 'overlong_penalty' (a stage's rewards: {overlong_penalty: 0} turns "
                "it off) and its window is the 'overlong' section (max_tokens, cache_tokens)"
            )
        return data

    @model_validator(mode="after")
    def clip_higher(self) -> DapoSection:
        if self.epsilon_high < self.epsilon:
            raise ValueError("epsilon_high must be at least epsilon (clip-higher)")
        return self


class OverlongSection(Section):
    """The window of DAPO's soft overlong punishment (the reward ``overlong_penalty``): 0 up to
    ``max_tokens - cache_tokens`` model tokens, then down to -1 at ``max_tokens``.
    ``max_tokens`` is each stage's ``context_tokens`` unless given, ``cache_tokens`` a fifth of
    the window unless given (DAPO's 4,096 of 20,480); a window longer than a stage's budget
    could never fire and is refused."""

    max_tokens: int | None = Field(default=None, ge=1)
    cache_tokens: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def cache_within_max(self) -> OverlongSection:
        if (
            self.max_tokens is not None
            and self.cache_tokens is not None
            and self.cache_tokens >= self.max_tokens
        ):
            raise ValueError("cache_tokens must be below max_tokens")
        return self

    def window(self, stage: StageSection) -> tuple[int, int]:
        """The punishment's (max tokens, buffer tokens) for ``stage``."""
        length = self.max_tokens or stage.context_tokens
        return length, length // 5 if self.cache_tokens is None else self.cache_tokens


class CorrectnessSection(Section):
    """How the ``correctness`` reward (and dynamic sampling's accuracy) matches an answer:
    ``em`` exact match after normalisation; ``substring`` the gold inside the prediction (the
    authors' training), only for answers of at most ``max_answer_words`` words, so listing
    candidates earns nothing; ``f1`` token F1 (partial credit)."""

    mode: Literal["em", "substring", "f1"] = "em"
    max_answer_words: int = Field(default=10, ge=1)


class GenerationSection(Section):
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.8, gt=0, le=1)
    top_k: int = Field(default=0, ge=0)
    thinking: bool = False
    turn_tokens: int | None = Field(default=None, ge=1)
    result_chars: int = Field(default=1024, ge=64)
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0, le=1)


class TrainingSection(Section):
    """Optimisation. Each generation batch (``per_device_batch_size`` ×
    ``gradient_accumulation_steps`` × ``updates_per_generation`` episodes per process) is
    split into ``updates_per_generation`` optimizer steps, as DAPO and verl do (several
    mini-batches per rollout): the policy moves within the batch, the rollout's log-probs are
    kept as the old policy's, and the clipped ratio binds. ``num_iterations`` (GRPO's μ)
    passes over each generation batch that many times. ``stages[].steps`` counts optimizer
    steps. ``log_rollouts`` writes every episode played to the stage's ``rollouts.jsonl``
    (text, not token ids: about 700 bytes an episode of the world demo, more with long
    turns)."""

    num_generations: int = Field(default=8, ge=2)
    per_device_batch_size: int = Field(default=8, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    updates_per_generation: int = Field(default=4, ge=1)
    num_iterations: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=1e-6, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    bf16: bool = False
    gradient_checkpointing: bool = False
    save_steps: int = Field(default=1, ge=1)
    save_total_limit: int | None = Field(default=2, ge=1)
    logging_steps: int = Field(default=1, ge=1)
    log_rollouts: bool = True
    seed: int = 0
    deepspeed: str | None = None


class ExportSection(Section):
    """``model/``, the run's final weights for serving. ``yarn_factor`` sets YaRN rope scaling
    over ``original_context`` tokens (the report serves 128K as factor 4 over 32K); null copies
    the weights unscaled. YaRN is static in vLLM and transformers: it changes short prompts too,
    so a model trained and served on short contexts is better off without it."""

    yarn_factor: float | None = Field(default=YARN_FACTOR, gt=1)
    original_context: int = Field(default=YARN_ORIGINAL_CONTEXT, ge=64)


class StageSection(Section):
    """One curriculum stage. Its reward weights start from the report's stage
    ``reward_stage`` in ``rewards/stages.yaml`` (by default the stage's own number); ``rewards``
    lays weights over them by name (0 drops a reward) and ``gate`` replaces their gate
    (``none`` drops it). A stage past the report's three names a ``reward_stage`` or gives
    every weight."""

    name: str
    context_tokens: int = Field(ge=64)
    max_turns: int = Field(ge=1)
    steps: int = Field(ge=1)
    reward_stage: int | None = None
    rewards: dict[str, float] = Field(default_factory=dict)
    gate: str | None = None
    learning_rate: float | None = Field(default=None, gt=0)
    hops: dict[int, float] | None = None  # training questions by hop count, relative weights

    @model_validator(mode="after")
    def positive_hops(self) -> StageSection:
        if self.hops is not None and (
            not self.hops or any(w < 0 for w in self.hops.values()) or not sum(self.hops.values())
        ):
            raise ValueError("hops: give non-negative weights by hop count, not all zero")
        return self

    @model_validator(mode="after")
    def known_rewards(self) -> StageSection:
        gate = [self.gate] if self.gate not in (None, "none") else []
        for name in [*self.rewards, *gate]:
            if name not in REWARDS:
                raise ValueError(
                    f"unknown reward {name!r}; the rewards are: {', '.join(sorted(REWARDS))}"
                )
        if self.reward_stage is not None and self.reward_stage not in STAGES:
            raise ValueError(
                f"reward_stage {self.reward_stage} is not one of the report's stages "
                f"{sorted(STAGES)} (rewards/stages.yaml)"
            )
        return self


# The GRPOConfig fields ``build_trainer`` sets from the recipe, and where each one comes from.
# A recipe's ``trl`` section may set any other field of TRL's GRPOConfig, but none of these.
TRL_FIELDS_FROM_RECIPE: dict[str, str] = {
    "output_dir": "the stage's directory under nanosearch train --out",
    "max_steps": "each stage's steps",
    "per_device_train_batch_size": "training.per_device_batch_size",
    "gradient_accumulation_steps": "training.gradient_accumulation_steps",
    "steps_per_generation": "training.updates_per_generation",
    "generation_batch_size": "training.updates_per_generation",
    "num_iterations": "training.num_iterations",
    "num_generations": "training.num_generations",
    "learning_rate": "training.learning_rate or a stage's learning_rate",
    "weight_decay": "training.weight_decay",
    "warmup_steps": "training.warmup_steps",
    "max_grad_norm": "training.max_grad_norm",
    "bf16": "training.bf16",
    "activation_checkpointing": "training.gradient_checkpointing",
    "deepspeed": "training.deepspeed",
    "save_strategy": "training.save_steps (resuming needs step checkpoints)",
    "save_steps": "training.save_steps",
    "save_total_limit": "training.save_total_limit",
    "logging_steps": "training.logging_steps",
    "seed": "training.seed",
    "loss_type": "dapo.loss_type",
    "epsilon": "dapo.epsilon",
    "epsilon_high": "dapo.epsilon_high",
    "beta": "dapo.beta",
    "scale_rewards": "dapo.scale_rewards",
    "top_entropy_quantile": "dapo.top_entropy_quantile",
    "entropy_coef": "dapo.entropy_coef",
    "mask_truncated_completions": "dapo.mask_truncated_completions",
    "reward_weights": "each stage's rewards",
    "max_completion_length": "generation.turn_tokens or a stage's context_tokens",
    "temperature": "generation.temperature",
    "top_p": "generation.top_p",
    "top_k": "generation.top_k",
    "chat_template_kwargs": "generation.thinking",
    "use_vllm": "generation.use_vllm",
    "vllm_mode": "generation.vllm_mode",
    "vllm_gpu_memory_utilization": "generation.vllm_gpu_memory_utilization",
    "vllm_max_model_length": "each stage's context_tokens",
    "vllm_importance_sampling_correction": "generation.use_vllm (on with vLLM)",
    "generation_kwargs": "generation (the turn's stop strings)",
    "use_cpu": "the machine (no accelerator: the CPU)",
    "remove_unused_columns": "the rollout (it reads each question's id)",
}
# What nanosearch gives the GRPOConfig fields below unless a recipe's ``trl`` section sets them.
TRL_DEFAULTS: dict[str, Any] = {
    "lr_scheduler_type": "constant_with_warmup",
    "report_to": "none",  # metrics.jsonl and TensorBoard are always written
    "log_completions": False,
}


def grpo_config_fields() -> set[str]:
    """The fields of the installed TRL's ``GRPOConfig``."""
    import dataclasses

    from trl import GRPOConfig

    return {field.name for field in dataclasses.fields(GRPOConfig) if field.init}


class Recipe(Section):
    """``protocol`` is how the model calls the tools and reads their results: ``xml`` (the
    report's ``<tool>`` calls and ``<result>`` turns, the tools listed in the system prompt) or
    ``hermes`` (Qwen's ``<tool_call>`` blocks, the tools given to the chat template, results
    as ``tool`` messages), in training, held-out evaluation and the native runtime alike.

    ``trl`` passes any other field of TRL's ``GRPOConfig`` through as it is (GSPO's
    ``importance_sampling_level: sequence``, ``delta``, ``report_to: wandb``,
    ``vllm_server_base_url``, ...): a name TRL does not have, or one the recipe's own sections
    set (:data:`TRL_FIELDS_FROM_RECIPE`), is an error."""

    model: ModelSection
    protocol: ProtocolName = "xml"
    world: WorldSection | None = None
    evaluation: EvaluationSection | None = None
    data: DataSection = DataSection()
    index: IndexSection = IndexSection()
    dapo: DapoSection = DapoSection()
    overlong: OverlongSection = OverlongSection()
    correctness: CorrectnessSection = CorrectnessSection()
    generation: GenerationSection = GenerationSection()
    training: TrainingSection = TrainingSection()
    export: ExportSection = ExportSection()
    trl: dict[str, Any] = Field(default_factory=dict)
    stages: list[StageSection] = Field(min_length=1)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def batch_holds_groups(self) -> Recipe:
        batch = self.training.per_device_batch_size * self.training.gradient_accumulation_steps
        if batch % self.training.num_generations:
            raise ValueError(
                "training.per_device_batch_size × gradient_accumulation_steps "
                f"({batch}) must be a multiple of num_generations "
                f"({self.training.num_generations})"
            )
        if self.model.world_base is not None and self.world is None:
            raise ValueError("model.world_base needs a 'world' section")
        if (
            self.model.world_base is not None
            and self.model.world_base.worlds
            and self.world is not None
            and self.world.tokenizer != "shared"
        ):
            raise ValueError(
                "model.world_base.worlds pretrains on other worlds, whose names the world's own "
                "tokenizer has never seen: use world.tokenizer: shared with it"
            )
        if self.model.world_base is not None and self.protocol != "xml":
            raise ValueError(
                "model.world_base is pretrained on transcripts of the xml protocol: "
                "use protocol: xml with it"
            )
        names = [stage.name for stage in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        return self

    @model_validator(mode="after")
    def trl_fields_are_grpo_config_s(self) -> Recipe:
        if not self.trl:
            return self
        for name in sorted(self.trl):
            if name in TRL_FIELDS_FROM_RECIPE:
                raise ValueError(
                    f"trl.{name}: nanosearch sets it from {TRL_FIELDS_FROM_RECIPE[name]}; "
                    "set it there"
                )
        known = grpo_config_fields()
        for name in sorted(self.trl):
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"trl.{name}: not a field of GRPOConfig in TRL {version('trl')}{hint}"
                )
        reports = self.trl.get("report_to", [])
        reports = [reports] if isinstance(reports, str) else reports
        if doubled := sorted({"tensorboard", "all"} & set(reports)):
            raise ValueError(
                f"trl.report_to: {', '.join(doubled)} would log to TensorBoard a second time: "
                "nanosearch writes every stage's TensorBoard logs to stage-N/tensorboard itself; "
                "name the other integrations only (wandb, mlflow, ...)"
            )
        return self

    @model_validator(mode="after")
    def stage_rewards_resolve(self) -> Recipe:
        for number, stage in enumerate(self.stages, start=1):
            where = f"stage {number} {stage.name!r}"
            if stage.reward_stage is None and number not in STAGES and not stage.rewards:
                raise ValueError(
                    f"{where}: the report has {len(STAGES)} stages; give this one its rewards "
                    "or a reward_stage to start from"
                )
            weights, _ = self.reward_weights(number)
            if "non_thinking" not in weights:
                raise ValueError(
                    f"{where}: every stage must weigh 'non_thinking' (force non-thinking)"
                )
            if "overlong_penalty" not in weights:
                continue
            length, cache = self.overlong.window(stage)
            if length > stage.context_tokens:
                raise ValueError(
                    f"overlong.max_tokens ({length}) lies outside {where}'s budget of "
                    f"{stage.context_tokens} context tokens: the soft overlong punishment could "
                    "never fire there"
                )
            if cache >= length:
                raise ValueError(
                    f"overlong.cache_tokens ({cache}) must be below the overlong window "
                    f"({length}) of {where}"
                )
        return self

    def reward_weights(self, number: int) -> tuple[dict[str, float], str | None]:
        """Stage ``number``'s (from 1) reward weights and gate (see :class:`StageSection`)."""
        stage = self.stages[number - 1]
        base = STAGES.get(stage.reward_stage or number)
        weights = {f.__name__: w for f, w in base.rewards} if base else {}
        weights.update(stage.rewards)
        gate = stage.gate
        if gate is None and base is not None and base.gate is not None:
            gate = base.gate.__name__
        return {n: w for n, w in weights.items() if w}, None if gate == "none" else gate

    def reward_stage(self, number: int) -> Stage:
        weights, gate = self.reward_weights(number)
        return stage_from_config({"weights": weights, "gate": gate}, f"stage {number}")

    def resolve(self, value: str) -> str:
        """A recipe-relative path made absolute; hub ids and ``bundled`` pass through."""
        if value == BUNDLED:
            return value
        candidate = self.base_dir / value
        return str(candidate.resolve()) if candidate.exists() else value

    def as_written(self) -> dict[str, Any]:
        """The validated recipe as a mapping whose paths are absolute, so that its copy in a run
        directory (``recipe.yaml``) loads from there and names the same files."""
        written = self.model_dump(mode="json")
        for (section, key), may_be_hub_id in PATH_FIELDS.items():
            value = written.get(section, {}).get(key)
            if isinstance(value, str) and names_a_path(value, self.base_dir, may_be_hub_id):
                written[section][key] = str((self.base_dir / value).resolve())
        return written


def _location(error: dict) -> str:
    return ".".join(str(part) for part in error["loc"] if part != "__root__") or "(top level)"


def load_recipe(path: str | Path) -> Recipe:
    """Read ``DIR/recipe.yaml`` (or a YAML file), with every recipe it ``extends``
    (:mod:`nanosearch.train.recipe_files`); errors name the file and the key."""
    file = recipe_file(path)
    raw = read_recipe_mapping(file)
    try:
        return Recipe.model_validate({**raw, "base_dir": file.parent.resolve()})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = _location(item)
            if item["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown key")
            else:
                problems.append(f"{where}: {item['msg']}")
        raise NanosearchError(f"{file}: " + "; ".join(problems)) from None
