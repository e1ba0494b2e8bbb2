"""The training pieces on their own: recipes, dynamic sampling, the rollout, the loss mask."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import fields, replace
from itertools import islice
from pathlib import Path
from typing import Any, get_args

import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoTokenizer

from nanosearch.assets import QWEN3_TOKENIZER
from nanosearch.env import ChatFormat, Generation, GenerationRequest
from nanosearch.env.policy import finish_of
from nanosearch.errors import NanosearchError
from nanosearch.models import build_tiny_qwen3
from nanosearch.protocol import Episode
from nanosearch.rewards import stage_from_config
from nanosearch.search import SearchEngine
from nanosearch.tools import EngineTools
from nanosearch.train import load_recipe
from nanosearch.train.curriculum import (
    build_trainer,
    grpo_arguments,
    refill_seed,
    train_recipe,
)
from nanosearch.train.recipe import (
    TRL_DEFAULTS,
    TRL_FIELDS_FROM_RECIPE,
    DapoSection,
    OverlongSection,
    StageSection,
    WorldBase,
    grpo_config_fields,
)
from nanosearch.train.rollout import (
    COMPONENT_PREFIX,
    METRICS_FIELD,
    TOTAL_FIELD,
    StageRollout,
    TrainerVLLMPolicy,
    vllm_generation_kwargs,
)
from nanosearch.train.sampling import cycle_examples, fill_batch, has_signal
from nanosearch.world.base import LOSS_ON, BaseSettings, LossOn
from nanosearch.world.transcripts import ANSWER_DRAWS, FOLLOW_DRAWS, AnswerDraw, FollowDraw

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
STAGE = {
    "name": "s",
    "context_tokens": 900,
    "max_turns": 3,
    "steps": 1,
    "rewards": {"correctness": 1.0, "non_thinking": 0.5},
}


def stage_rewards(weights: dict[str, float]) -> Any:
    return stage_from_config({"weights": weights})


def write_recipe(directory: Path, recipe: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return directory


def minimal_recipe(**overrides: Any) -> dict[str, Any]:
    return {"model": {"tiny": {}, "tokenizer": "bundled"}, "stages": [dict(STAGE)], **overrides}


@pytest.mark.parametrize(
    "name", ["tiny-cpu", "jan-nano-4b", "jan-nano-4b-authors", "world-cpu", "world-demo"]
)
def test_shipped_recipes_validate(name: str) -> None:
    recipe = load_recipe(RECIPES / name)
    assert [s.name for s in recipe.stages] and recipe.dapo.epsilon_high == 0.28
    for number in range(1, len(recipe.stages) + 1):
        assert {"non_thinking", "overlong_penalty"} <= set(recipe.reward_weights(number)[0])
    assert recipe.generation.thinking is False
    assert recipe.training.updates_per_generation * recipe.training.num_iterations > 1
    if name != "jan-nano-4b-authors":
        assert recipe.dapo.beta == 0.0 and recipe.dapo.loss_type == "dapo"
        assert recipe.dapo.filter_signal == "correctness"


def test_the_authors_recipe_differs_from_the_reports_only_where_their_code_did() -> None:
    paper, authors = (
        load_recipe(RECIPES / "jan-nano-4b"),
        load_recipe(RECIPES / "jan-nano-4b-authors"),
    )
    assert (authors.dapo.loss_type, authors.dapo.scale_rewards, authors.dapo.beta) == (
        "dr_grpo",
        "none",
        0.01,
    )
    assert authors.training.updates_per_generation == 4
    assert (authors.training.learning_rate, authors.training.max_grad_norm) == (3e-6, 0.1)
    assert authors.correctness.mode == "substring" and paper.correctness.mode == "em"
    assert authors.reward_weights(1)[0]["format_compliance"] == 0.1
    assert paper.reward_weights(1)[0]["format_compliance"] == 0.2
    assert authors.generation.result_chars == 1024
    assert {stage.max_turns for stage in authors.stages} == {10}
    assert authors.model == paper.model and authors.data.mixture == paper.data.mixture
    assert Path(authors.resolve(authors.training.deepspeed)).is_file()


def test_the_4b_recipe_has_the_reports_stages() -> None:
    recipe = load_recipe(RECIPES / "jan-nano-4b")
    assert recipe.model.name_or_path == "Qwen/Qwen3-4B"
    assert recipe.generation.use_vllm
    assert [s.context_tokens for s in recipe.stages] == [8192, 8192, 40960]
    assert set(recipe.reward_weights(1)[0]) >= {
        "correctness",
        "tool_execution",
        "format_compliance",
        "xml_structure",
    }
    assert recipe.reward_weights(2) == (
        {"correctness": 1.0, "non_thinking": 0.5, "overlong_penalty": 1.0},
        "xml_structure",
    )
    assert set(recipe.reward_weights(3)[0]) == {
        "correctness",
        "xml_structure",
        "non_thinking",
        "overlong_penalty",
    }
    assert recipe.stages[2].max_turns > recipe.stages[0].max_turns
    assert recipe.training.deepspeed
    assert (RECIPES / "jan-nano-4b" / recipe.training.deepspeed).is_file()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dapo": {"epsilon_hgh": 0.28}}, "dapo.epsilon_hgh: unknown key"),
        ({"dapo": {"epsilon": -1}}, "dapo.epsilon"),
        ({"training": {"num_generations": 3, "per_device_batch_size": 4}}, "multiple of"),
        ({"stages": [{**STAGE, "rewards": {"corectness": 1, "non_thinking": 0.5}}]}, "corectness"),
        ({"stages": [{**STAGE, "rewards": {"non_thinking": 0}}]}, "non_thinking"),
        ({"stages": [{**STAGE, "reward_stage": 4}]}, "reward_stage 4"),
        (
            {
                "stages": [
                    STAGE,
                    STAGE | {"name": "b"},
                    STAGE | {"name": "c"},
                    STAGE | {"name": "d", "rewards": {}},
                ]
            },
            "give this one its rewards",
        ),
        ({"stages": [{**STAGE, "steps": 0}]}, "stages.0.steps"),
        ({"dapo": {"soft_overlong": False}}, "soft_overlong has moved"),
        ({"model": {"name_or_path": "x", "tiny": {}}}, "exactly one"),
        ({"stages": []}, "stages"),
        ({"protocol": "json"}, "protocol: Input should be 'xml' or 'hermes'"),
        (
            {"protocol": "hermes", "world": {}, "model": {"world_base": {}}},
            "transcripts of the xml protocol",
        ),
        (
            {"world": {}, "model": {"world_base": {"shorter_results": [300, 200]}}},
            "shorter_results must rise",
        ),
        (
            {"world": {}, "model": {"world_base": {"start_from": "nothing"}}},
            "start_from 'nothing' is neither a shipped base (lexicon-8-worlds)",
        ),
        ({"export": {"yarn_factor": 1}}, "export.yarn_factor"),
        ({"trl": {"loss_type": "grpo"}}, "trl.loss_type: nanosearch sets it from dapo.loss_type"),
        ({"trl": {"max_steps": 3}}, "trl.max_steps: nanosearch sets it from each stage's steps"),
        (
            {"trl": {"importance_sampling_levl": "sequence"}},
            "trl.importance_sampling_levl: not a field of GRPOConfig in TRL 1.16.0 "
            "(did you mean 'importance_sampling_level'?)",
        ),
        ({"trl": ["delta"]}, "trl: Input should be a valid dictionary"),
        (
            {"trl": {"report_to": ["wandb", "tensorboard"]}},
            "trl.report_to: tensorboard would log to TensorBoard a second time",
        ),
        ({"trl": {"report_to": "all"}}, "trl.report_to: all would log to TensorBoard"),
    ],
)
def test_a_bad_recipe_fails_naming_the_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    directory = write_recipe(tmp_path / "r", minimal_recipe(**change))
    with pytest.raises(NanosearchError, match="recipe.yaml") as error:
        load_recipe(directory)
    assert message in str(error.value)


def test_a_recipe_world_base_is_every_base_setting_with_its_default() -> None:
    defaults = WorldBase()
    assert set(WorldBase.model_fields) - {"bundled"} == {f.name for f in fields(BaseSettings)}
    assert defaults.settings() == BaseSettings()
    assert set(get_args(AnswerDraw)) == set(ANSWER_DRAWS)
    assert set(get_args(FollowDraw)) == set(FOLLOW_DRAWS)
    assert set(get_args(LossOn)) == set(LOSS_ON)
    given = {"hidden_size": 32, "answer_from": "top", "start_from": "lexicon-8-worlds"}
    assert WorldBase(**given, shorter_results=[100]).settings() == BaseSettings(
        **given, shorter_results=(100,)
    )


def test_a_broken_recipe_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text("model: [unclosed\n")
    with pytest.raises(NanosearchError, match="not valid YAML"):
        load_recipe(tmp_path)
    with pytest.raises(NanosearchError, match="recipe not found"):
        load_recipe(tmp_path / "missing")


@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=8))
def test_signal_means_rewards_differ(rewards: list[float]) -> None:
    assert has_signal(rewards) == (max(rewards) - min(rewards) > 1e-6)


def test_dynamic_sampling_refills_the_batch_with_groups_that_have_signal() -> None:
    rewards = {"flat1": [0, 0], "flat2": [1, 1], "good1": [0, 1], "flat3": [0, 0], "good2": [1, 0]}
    fresh = iter(["good1", "flat3", "good2"])
    played: list[list[str]] = []

    def play(groups: list[str]) -> list[list[float]]:
        played.append(groups)
        return [rewards[g] for g in groups]

    groups, group_rewards, stats = fill_batch(
        ["flat1", "flat2"], play, lambda n: [next(fresh) for _ in range(n)], size=2, max_rounds=5
    )
    assert groups == ["good1", "good2"] and group_rewards == [[0, 1], [1, 0]]
    assert played == [["flat1", "flat2"], ["good1", "flat3"], ["good2"]]
    assert stats.rounds == 3 and stats.groups_played == 5 and stats.groups_dropped == 3
    assert stats.groups_without_signal_kept == 0


def test_dynamic_sampling_gives_up_after_its_rounds_and_fills_the_batch() -> None:
    groups, _, stats = fill_batch(
        ["a", "b"], lambda gs: [[0.0, 0.0] for _ in gs], lambda n: ["c"] * n, size=2, max_rounds=2
    )
    assert len(groups) == 2 and stats.rounds == 2
    assert stats.groups_without_signal_kept == 2 and stats.groups_dropped == 2


def test_dynamic_sampling_switched_off_keeps_the_first_round() -> None:
    groups, _, stats = fill_batch(
        ["a", "b"],
        lambda gs: [[0.0, 0.0] for _ in gs],
        lambda n: 1 / 0,
        size=2,
        max_rounds=3,
        enabled=False,
    )
    assert groups == ["a", "b"] and stats.rounds == 1 and stats.groups_dropped == 0


class AnsweringPolicy:
    """Answers each question it recognises in its prompt with a given text (a stand-in for a
    model: no real LLM can run in this test); ``right`` answers only on even episodes."""

    def __init__(self, tokenizer: Any, answers: dict[str, str], right: set[str]) -> None:
        self.tokenizer = tokenizer
        self.answers = answers
        self.right = right

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        out = []
        for request in requests:
            prompt = self.tokenizer.decode(request.input_ids)
            question = next(q for q in self.answers if q in prompt)
            if request.turn == 0:
                text = '<tool>{"name": "web_search", "arguments": {"query": "x"}}</tool>'
            else:
                good = question in self.right and request.episode % 2 == 0
                text = f"<answer>{self.answers[question] if good else 'no idea'}</answer>"
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            out.append(Generation(ids, text, finish_of(text, ids, set(), request.max_new_tokens)))
        return out


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(QWEN3_TOKENIZER)


def make_rollout(
    tokenizer: Any, engine: SearchEngine, examples: list[dict], policy: Any, **dapo: Any
) -> StageRollout:
    @contextmanager
    def backend(trainer: Any):
        yield policy

    return StageRollout(
        examples=examples,
        tools=EngineTools(engine),
        chat=ChatFormat.from_tokenizer(tokenizer),
        stage=StageSection(**STAGE),
        rewards=stage_rewards({**STAGE["rewards"], "overlong_penalty": 1.0}),
        dapo=DapoSection(**dapo),
        num_generations=2,
        backend=backend,
        overlong=(4096, 1024),
    )


def test_the_rollout_replaces_groups_without_signal(
    tokenizer: Any, musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    examples = [
        {"id": r["id"], "question": r["question"], "answer": r["answer"]}
        for r in musique_records[:4]
    ]
    answers = {e["question"]: e["answer"] for e in examples}
    flat = examples[0]["question"]
    policy = AnsweringPolicy(tokenizer, answers, right=set(answers) - {flat})
    rollout = make_rollout(tokenizer, musique_engine, examples, policy, max_sampling_rounds=6)
    output = rollout([flat, flat], trainer=None)

    metrics = output[METRICS_FIELD]
    assert metrics["dynamic_sampling/groups_dropped"] >= 1
    assert metrics["dynamic_sampling/groups_without_signal_kept"] == 0
    assert sorted(output[TOTAL_FIELD]) == [0.0, 1.0]
    kept_prompt = tokenizer.decode(output["prompt_ids"][0])
    assert flat not in kept_prompt and any(q in kept_prompt for q in answers)
    for name in ("correctness", "non_thinking", "overlong_penalty"):
        assert len(output[COMPONENT_PREFIX + name]) == 2
    for ids, mask in zip(output["completion_ids"], output["env_mask"], strict=True):
        assert len(ids) == len(mask) and 0 in mask and ids[-1] == tokenizer.eos_token_id
    assert metrics["episodes/mean_tool_calls"] == 1.0


def test_the_rollout_rejects_a_prompt_it_does_not_know(
    tokenizer: Any, musique_engine: SearchEngine
) -> None:
    examples = [{"id": "1", "question": "q?", "answer": "a"}]
    rollout = make_rollout(tokenizer, musique_engine, examples, None)
    with pytest.raises(NanosearchError, match="not a training question"):
        rollout(["other?", "other?"], trainer=None)
    with pytest.raises(NanosearchError, match="multiple of num_generations"):
        rollout(["q?"], trainer=None)


def score_one_group(
    directory: Path,
    tokenizer: Any,
    engine: SearchEngine,
    records: list[dict],
    model_dir: Path,
    dapo: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A trainer of the tiny model and one group of two episodes built by TRL's own batch
    building from our rollout: the even episode answers right, the odd one does not."""
    examples = [
        {"id": r["id"], "question": r["question"], "answer": r["answer"]} for r in records[:2]
    ]
    answers = {e["question"]: e["answer"] for e in examples}
    recipe = load_recipe(
        write_recipe(
            directory / "recipe",
            minimal_recipe(
                training={"num_generations": 2, "per_device_batch_size": 2},
                dapo={"dynamic_sampling": False, **(dapo or {})},
            ),
        )
    )
    trainer = build_trainer(
        recipe, recipe.stages[0], 1, str(model_dir), directory / "stage", examples, engine
    )
    policy = AnsweringPolicy(tokenizer, answers, right=set(answers))

    @contextmanager
    def backend(_: Any):
        yield policy

    trainer.rollout_func.backend = backend
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop otherwise
    rows = [{"prompt": examples[0]["question"], "id": examples[0]["id"]} for _ in range(2)]
    return trainer, trainer._generate_and_score_completions(rows)  # TRL writes into each row


@pytest.fixture
def scored_batch(
    tmp_path: Path,
    tokenizer: Any,
    musique_engine: SearchEngine,
    musique_records: list[dict],
    tiny_qwen3_dir: Path,
) -> tuple[Any, dict[str, Any]]:
    return score_one_group(tmp_path, tokenizer, musique_engine, musique_records, tiny_qwen3_dir)


def completion_gradient(trainer: Any, batch: dict[str, Any]) -> torch.Tensor:
    """The gradient reaching each completion position from TRL's loss (its absolute sum over
    the hidden state that predicts the token there)."""
    # TRL computes log-probabilities from the last hidden states times lm_head's weight (its
    # fused head), so the hidden state at position p, which predicts token p + 1, is where a
    # token's gradient enters: nothing else reads the final norm's output.
    captured: dict[str, torch.Tensor] = {}

    def keep_hidden(module: Any, inputs: Any, output: torch.Tensor) -> None:
        output.retain_grad()
        captured["hidden"] = output

    handle = trainer.model.model.norm.register_forward_hook(keep_hidden)
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    handle.remove()
    start = batch["prompt_ids"].shape[1] - 1
    width = batch["completion_ids"].shape[1]
    return captured["hidden"].grad[:, start : start + width].abs().sum(-1)


def test_masked_tool_tokens_get_no_gradient(scored_batch: tuple[Any, dict[str, Any]]) -> None:
    """Through TRL's own batch building and loss: the rollout's env_mask becomes the loss mask,
    and the logits that predict inserted tokens receive exactly zero gradient."""
    trainer, batch = scored_batch
    mask = batch["completion_mask"] * batch["tool_mask"]
    assert (batch["tool_mask"] == 0).any() and (mask == 1).any()
    batch["advantages"] = torch.tensor([1.0, -1.0])
    grad = completion_gradient(trainer, batch)
    assert torch.all(grad[mask == 0] == 0)
    assert torch.all(grad[mask == 1] > 0)


def test_the_entropy_quantile_trains_only_the_model_s_most_uncertain_tokens(
    tmp_path: Path,
    tokenizer: Any,
    musique_engine: SearchEngine,
    musique_records: list[dict],
    tiny_qwen3_dir: Path,
) -> None:
    """``dapo.top_entropy_quantile`` reaches TRL: a fifth of the model's own tokens (the most
    uncertain) get gradient, never a token of tool output; ``entropy_coef`` reaches it too."""
    trainer, batch = score_one_group(
        tmp_path,
        tokenizer,
        musique_engine,
        musique_records,
        tiny_qwen3_dir,
        dapo={"top_entropy_quantile": 0.2, "entropy_coef": 0.01},
    )
    assert trainer.args.top_entropy_quantile == 0.2 and trainer.args.entropy_coef == 0.01
    trainer.entropy_coef = 0.0  # the bonus would reach every token of the model's
    mask = batch["completion_mask"] * batch["tool_mask"]
    batch["advantages"] = torch.tensor([1.0, -1.0])
    grad = completion_gradient(trainer, batch)
    assert torch.all(grad[mask == 0] == 0)
    trained = int((grad[mask == 1] > 0).sum())
    assert 0 < trained <= 0.2 * int(mask.sum()) + 2  # ties at the threshold may add one or two


def test_a_recipe_s_trl_section_reaches_grpo_config(
    tmp_path: Path, musique_engine: SearchEngine, tiny_qwen3_dir: Path
) -> None:
    """Any GRPOConfig field the recipe does not set itself passes through (GSPO's sequence-level
    ratios, two-sided clipping, a scheduler); a value TRL refuses is named with the section."""
    trl = {"importance_sampling_level": "sequence", "delta": 3.0, "lr_scheduler_type": "cosine"}
    recipe = load_recipe(write_recipe(tmp_path / "r", minimal_recipe(trl=trl)))
    examples = [{"id": "1", "question": "q?", "answer": "Paris"}]
    trainer = build_trainer(
        recipe, recipe.stages[0], 1, str(tiny_qwen3_dir), tmp_path / "s", examples, musique_engine
    )
    args = trainer.args
    assert (args.importance_sampling_level, args.delta) == ("sequence", 3.0)
    assert args.lr_scheduler_type == "cosine" and args.loss_type == recipe.dapo.loss_type
    assert trainer.importance_sampling_level == "sequence"
    refused = load_recipe(
        write_recipe(tmp_path / "bad", minimal_recipe(trl={"auto_find_batch_size": True}))
    )
    with pytest.raises(NanosearchError, match="refused the recipe's trl section"):
        build_trainer(
            refused,
            refused.stages[0],
            1,
            str(tiny_qwen3_dir),
            tmp_path / "b",
            examples,
            musique_engine,
        )


def test_a_trl_value_trl_refuses_fails_the_run_before_anything_is_prepared(
    tmp_path: Path,
) -> None:
    """Every stage's GRPOConfig is built first: a refusal costs no data, index or base."""
    second = {**STAGE, "name": "second"}
    recipe = minimal_recipe(trl={"auto_find_batch_size": True}, stages=[dict(STAGE), second])
    out = tmp_path / "run"
    with pytest.raises(NanosearchError, match=r"stage 1 .*refused the recipe's trl section"):
        train_recipe(write_recipe(tmp_path / "r", recipe), out, in_process=True)
    assert not [p.name for p in out.iterdir() if not p.name.startswith(".")]


def test_the_recipe_owns_exactly_the_grpo_config_fields_it_sets(tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path / "r", minimal_recipe()))
    arguments = grpo_arguments(recipe, recipe.stages[0], 1, tmp_path, [1.0])
    assert set(arguments) == set(TRL_FIELDS_FROM_RECIPE)
    assert set(arguments) | set(TRL_DEFAULTS) <= grpo_config_fields()
    assert not set(arguments) & set(TRL_DEFAULTS)


def test_the_policy_loss_options_beyond_dapo_are_off_by_default() -> None:
    dapo = DapoSection()
    assert (dapo.top_entropy_quantile, dapo.entropy_coef) == (1.0, 0.0)


def model_logprobs(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Each episode's summed log-probability of the tokens the model wrote."""
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attention).logits
    start = batch["prompt_ids"].shape[1]
    predicted = logits[:, start - 1 : -1].float().log_softmax(-1)
    per_token = predicted.gather(-1, batch["completion_ids"].unsqueeze(-1)).squeeze(-1)
    return (per_token * batch["completion_mask"] * batch["tool_mask"]).sum(-1)


def test_one_update_makes_the_rewarded_episode_likelier_than_the_other(
    scored_batch: tuple[Any, dict[str, Any]],
) -> None:
    """The sign of the whole chain, rewards to advantages to TRL's loss to an update: after one
    gradient step the right episode gains log-probability against the wrong one. (To first order
    the gap grows by the step size times the squared difference of their gradients, so a small
    step cannot shrink it.)"""
    trainer, batch = scored_batch
    assert batch["advantages"][0] > 0 > batch["advantages"][1]
    before = model_logprobs(trainer.model, batch)
    trainer.compute_loss(trainer.model, batch).backward()
    torch.optim.SGD(trainer.model.parameters(), lr=1e-3).step()
    after = model_logprobs(trainer.model, batch)
    assert after[0] - after[1] > before[0] - before[1]


class ShapedOnlyPolicy:
    """Never right, but only even episodes search first: the shaped total varies within a
    group while accuracy does not (a stand-in for a model: no real LLM can run in this test)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        out = []
        for request in requests:
            if request.turn == 0 and request.episode % 2 == 0:
                text = '<tool>{"name": "web_search", "arguments": {"query": "x"}}</tool>'
            else:
                text = "<answer>no idea</answer>"
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            out.append(Generation(ids, text, finish_of(text, ids, set(), request.max_new_tokens)))
        return out


@pytest.mark.parametrize(("signal", "dropped"), [("correctness", True), ("total", False)])
def test_dynamic_sampling_filters_on_accuracy_unless_told_otherwise(
    tokenizer: Any, musique_engine: SearchEngine, signal: str, dropped: bool
) -> None:
    examples = [{"id": str(i), "question": f"question {i}?", "answer": "a"} for i in range(4)]
    rollout = StageRollout(
        examples=examples,
        tools=EngineTools(musique_engine),
        chat=ChatFormat.from_tokenizer(tokenizer),
        stage=StageSection(**STAGE),
        rewards=stage_rewards({**STAGE["rewards"], "tool_execution": 0.2}),
        dapo=DapoSection(filter_signal=signal, max_sampling_rounds=2),
        num_generations=2,
        backend=lambda trainer: nullcontext(ShapedOnlyPolicy(tokenizer)),
    )
    output = rollout(["question 0?", "question 0?"], trainer=None)
    metrics = output[METRICS_FIELD]
    assert sorted(output[TOTAL_FIELD]) == [0.0, 0.2]
    assert output[COMPONENT_PREFIX + "correctness"] == [0.0, 0.0]
    assert (metrics["dynamic_sampling/groups_dropped"] > 0) is dropped
    assert (metrics["dynamic_sampling/rounds"] == 2) is dropped


def test_each_process_refills_in_its_own_order() -> None:
    seeds = {refill_seed(0, stage, process) for stage in (1, 2, 3) for process in range(8)}
    assert len(seeds) == 24
    orders = [
        list(islice(cycle_examples(list(range(50)), refill_seed(0, 1, p)), 10)) for p in (0, 1)
    ]
    assert orders[0] != orders[1]


def test_the_overlong_window_is_each_stages_budget_unless_set() -> None:
    short, long = StageSection(**STAGE), StageSection(**{**STAGE, "context_tokens": 4000})
    assert OverlongSection().window(short) == (900, 180)
    assert OverlongSection().window(long) == (4000, 800)
    assert OverlongSection(max_tokens=500, cache_tokens=100).window(long) == (500, 100)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"overlong": {"max_tokens": 20480}}, "lies outside stage 1 's'"),
        ({"overlong": {"max_tokens": 200, "cache_tokens": 300}}, "must be below"),
        ({"overlong": {"cache_tokens": 900}}, "must be below the overlong window"),
        ({"dapo": {"filter_signal": "reward"}}, "dapo.filter_signal"),
    ],
)
def test_an_overlong_window_outside_a_stage_is_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    directory = write_recipe(tmp_path / "r", minimal_recipe(**change))
    with pytest.raises(NanosearchError, match=message):
        load_recipe(directory)


def test_updates_per_generation_become_trl_steps_per_generation(
    tmp_path: Path, musique_engine: SearchEngine
) -> None:
    recipe = load_recipe(
        write_recipe(
            tmp_path / "r",
            minimal_recipe(
                training={
                    "num_generations": 2,
                    "per_device_batch_size": 2,
                    "gradient_accumulation_steps": 2,
                    "updates_per_generation": 3,
                    "num_iterations": 2,
                },
                correctness={"mode": "substring", "max_answer_words": 4},
            ),
        )
    )
    model = tmp_path / "model"
    build_tiny_qwen3(QWEN3_TOKENIZER, model, seed=0)
    examples = [{"id": "1", "question": "q?", "answer": "Paris"}]
    trainer = build_trainer(
        recipe, recipe.stages[0], 1, str(model), tmp_path / "stage", examples, musique_engine
    )
    assert trainer.args.steps_per_generation == 6
    assert trainer.args.gradient_accumulation_steps == 2 and trainer.args.num_iterations == 2
    rollout = trainer.rollout_func
    said = Episode(question="q?", messages=[], answer="it is Paris", stop_reason="answer")
    assert rollout.functions["correctness"](said, examples[0]) == 1.0
    assert (
        rollout.functions["correctness"](
            replace(said, answer="Lyon Nice Paris Rome Oslo"), examples[0]
        )
        == 0
    )


class RecordedVLLM:
    """Stands in for TRL's vLLM generation object (vLLM's engine needs a GPU and is not
    installed beside TRL here): it returns each prompt's continuation running past the turn's
    stop string, with one sampled log-prob per token, nested as TRL returns them."""

    def __init__(self, tokenizer: Any, texts: list[str]) -> None:
        self.tokenizer = tokenizer
        self.texts = texts

    def generate(self, prompts: list[list[int]], images: Any, num_generations: int) -> Any:
        rows = [self.tokenizer.encode(t, add_special_tokens=False) for t in self.texts]
        logprobs = [[[-0.1 * (i + 1)] for i in range(len(ids))] for ids in rows]
        return prompts, rows, logprobs, None


def test_vllm_turns_keep_their_sampling_logprobs_cut_with_the_tokens(tokenizer: Any) -> None:
    call = '<tool>{"name": "web_search", "arguments": {"query": "x"}}</tool>'
    vllm = RecordedVLLM(tokenizer, [call + " and more text", "<answer>Paris</answer>"])
    policy = TrainerVLLMPolicy(vllm, tokenizer, tokenizer.convert_tokens_to_ids("<|im_end|>"))
    requests = [GenerationRequest(i, 0, [1, 2], 64) for i in range(2)]
    first, second = policy.generate(requests)
    assert first.text == call and first.finish_reason == "stop"
    assert first.logprobs == [pytest.approx(-0.1 * (i + 1)) for i in range(len(first.token_ids))]
    assert second.text == "<answer>Paris</answer>" and len(second.logprobs or []) == len(
        second.token_ids
    )
    kwargs = vllm_generation_kwargs()
    assert set(kwargs["stop"]) >= {"</tool>", "</answer>"} and kwargs["include_stop_str_in_output"]


def test_the_rollout_hands_trl_the_sampling_logprobs_aligned_with_the_tokens(
    tokenizer: Any, musique_engine: SearchEngine, musique_records: list[dict]
) -> None:
    examples = [{"id": "1", "question": musique_records[0]["question"], "answer": "x"}]

    class WithLogprobs(ShapedOnlyPolicy):
        def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
            return [
                replace(g, logprobs=[-1.0] * len(g.token_ids)) for g in super().generate(requests)
            ]

    rollout = StageRollout(
        examples=examples,
        tools=EngineTools(musique_engine),
        chat=ChatFormat.from_tokenizer(tokenizer),
        stage=StageSection(**STAGE),
        rewards=stage_rewards(STAGE["rewards"]),
        dapo=DapoSection(dynamic_sampling=False),
        num_generations=2,
        backend=lambda trainer: nullcontext(WithLogprobs(tokenizer)),
    )
    output = rollout([examples[0]["question"]] * 2, trainer=None)
    for ids, mask, logprobs in zip(
        output["completion_ids"], output["env_mask"], output["logprobs"], strict=True
    ):
        assert len(logprobs) == len(ids)
        sampled = [lp for lp, m in zip(logprobs, mask, strict=True) if m == 1]
        assert -1.0 in sampled and all(lp in (-1.0, None) for lp in sampled)
        assert all(lp is None for lp, m in zip(logprobs, mask, strict=True) if m == 0)
    plain = make_rollout(tokenizer, musique_engine, examples, ShapedOnlyPolicy(tokenizer))
    assert plain([examples[0]["question"]] * 2, trainer=None)["logprobs"] is None


def run_two_processes(worker: str, per_rank: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Start ``tests/<worker>`` as ranks 0 and 1 of a two-process group (gloo on CPU), as
    ``accelerate launch`` would, and return the JSON line each prints last."""
    import json
    import os
    import subprocess
    import sys

    from nanosearch.server.process import free_port

    port = str(free_port())
    processes = []
    for rank, extra in enumerate(per_rank):
        environment = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "WORLD_SIZE": str(len(per_rank)),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            **extra,
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name(worker))],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def test_server_mode_hands_each_process_its_own_completions() -> None:
    """Two real processes (gloo on CPU) through TRL's server-mode generation code, sending
    different numbers of prompts as lockstep episodes do: unpadded, TRL's slicing gives the
    second process another process's completion; padded, each gets its own."""
    first, second = run_two_processes(
        "server_mode_worker.py", [{"PROMPT_LENGTHS": "3,4,5"}, {"PROMPT_LENGTHS": "7"}]
    )
    assert first["padded"] == [f"<answer>{n}</answer>" for n in (3, 4, 5)]
    assert second["padded"] == ["<answer>7</answer>"]
    assert second["unpadded"] != ["<answer>7</answer>"]


def test_stage_processes_of_a_launched_run_form_their_own_group() -> None:
    """Under a two-process launch each process starts its stage's child with the environment
    ``nanosearch train`` gives it: both children get one fresh port, not the launcher's, and
    form a working process group of their own."""
    first, second = run_two_processes("stage_group_worker.py", [{}, {}])
    assert first["port"] == second["port"] != first["parent_port"]
    assert first["sum"] == second["sum"] == 3


def test_a_stage_starts_from_the_reports_weights_and_overrides_them_by_name(
    tmp_path: Path,
) -> None:
    stages = [
        {**STAGE, "name": "a", "rewards": {"format_compliance": 0.1, "overlong_penalty": 0}},
        {**STAGE, "name": "b", "rewards": {}, "gate": "none"},
        {**STAGE, "name": "c", "rewards": {}, "reward_stage": 2},
        {**STAGE, "name": "d", "rewards": {"correctness": 1.0, "non_thinking": 0.5}},
    ]
    recipe = load_recipe(write_recipe(tmp_path / "r", minimal_recipe(stages=stages)))
    first, gate = recipe.reward_weights(1)
    assert gate is None and "overlong_penalty" not in first
    assert first["format_compliance"] == 0.1 and first["tool_execution"] == 0.2
    assert recipe.reward_weights(2) == (
        {"correctness": 1.0, "non_thinking": 0.5, "overlong_penalty": 1.0},
        None,
    )
    assert recipe.reward_weights(3)[1] == "xml_structure"
    assert recipe.reward_weights(4) == ({"correctness": 1.0, "non_thinking": 0.5}, None)
    assert recipe.reward_stage(3).gate is not None


@pytest.mark.parametrize("protocol", ["xml", "hermes"])
def test_the_serving_note_gives_the_flags_of_the_model_s_protocol(
    tiny_qwen3_dir: Path, tmp_path: Path, protocol: str
) -> None:
    """vLLM's hermes parser reads ``<tool_call>`` blocks only: an xml-protocol model is served
    without it and evaluated by the native runtime, which reads ``<tool>`` from the text."""
    from nanosearch.train.export import SERVING_NOTE, export_model

    out = export_model(tiny_qwen3_dir, tmp_path / "model", protocol=protocol, result_chars=600)
    note = (out / SERVING_NOTE).read_text()
    assert f"--protocol {protocol} --result-chars 600" in note
    assert ("--tool-call-parser hermes" in note) == (protocol == "hermes")
    assert "--rope-scaling yarn" in note and "--base-url" in note


@pytest.mark.parametrize("thinking", [False, True])
def test_the_exported_tokenizer_renders_episodes_as_training_played_them(
    tiny_qwen3_dir: Path, tmp_path: Path, thinking: bool
) -> None:
    from transformers import AutoTokenizer

    from nanosearch.env.chat import renders_like_training
    from nanosearch.train.export import Serving, export_model, keep_episode_template

    out = export_model(tiny_qwen3_dir, tmp_path / "model", thinking=thinking)
    assert not renders_like_training(AutoTokenizer.from_pretrained(tiny_qwen3_dir), thinking)
    assert renders_like_training(AutoTokenizer.from_pretrained(out), thinking)
    written = {file.name: file.stat().st_mtime_ns for file in out.iterdir()}
    assert keep_episode_template(out, thinking)  # aligned already: left as it is
    assert {file.name: file.stat().st_mtime_ns for file in out.iterdir()} == written
    note = (out / "SERVING.md").read_text()
    assert f"Thinking stays {'on' if thinking else 'off'}" in note
    assert ("--thinking on" in note) == thinking
    assert "serve it with this directory's template" in note
    assert not keep_episode_template(tmp_path)  # no tokenizer there
    unaligned = Serving(out, "xml", 600, thinking, episode_template=False).chat_lines()
    assert "a context it never trained on" in unaligned


def test_resuming_a_prepared_directory_starts_a_run_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The ablation copies the shared world, index and base into a run and resumes it: that is
    a new run on prepared files, not a missing one."""
    from nanosearch.train.curriculum import _claim

    caplog.set_level("INFO", logger="nanosearch.train.curriculum")
    _claim(tmp_path / "empty", resume=True)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    caplog.clear()
    (tmp_path / "prepared" / "world").mkdir(parents=True)
    _claim(tmp_path / "prepared", resume=True)
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "already prepared" in caplog.text
