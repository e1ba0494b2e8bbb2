"""Verifiable rewards on hand-built episodes, and their ranges on arbitrary ones."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanosearch.errors import NanosearchError
from nanosearch.protocol import Episode, ToolCall
from nanosearch.rewards import (
    REWARDS,
    STAGES,
    correctness,
    correctness_f1,
    correctness_function,
    cover_match,
    format_compliance,
    gold_answers,
    non_thinking,
    normalize_answer,
    overlong_penalty,
    score,
    soft_overlong,
    stage_from_config,
    tool_execution,
    xml_structure,
)

EXAMPLE = {"answer": "Victoria Falls", "answer_aliases": ["Mosi-oa-Tunya", "The Victoria Falls"]}
SEARCH = '<tool>{"name": "web_search", "arguments": {"query": "Bubye River"}}</tool>'
RANGES = {
    "correctness": (0, 1),
    "correctness_f1": (0, 1),
    "tool_execution": (0, 1),
    "format_compliance": (0, 1),
    "xml_structure": (0, 1),
    "non_thinking": (-1, 0),
    "overlong_penalty": (-1, 0),
}


def episode(
    *turns: str, answer: str | None = None, calls: list[bool] = (), tokens: int = 10
) -> Episode:
    messages = [{"role": "user", "content": "Which falls?"}]
    for turn in turns:
        messages.append({"role": "assistant", "content": turn})
        messages.append({"role": "tool", "content": "<result>\n...\n</result>"})
    if turns:
        messages.pop()
    return Episode(
        question="Which falls?",
        messages=messages,
        tool_calls=[ToolCall(i, "web_search", {}, ok) for i, ok in enumerate(calls)],
        answer=answer,
        stop_reason="answer" if answer else "max_turns",
        completion_mask=[1] * tokens,
    )


GOOD = episode(SEARCH, "<answer>Victoria Falls</answer>", answer="Victoria Falls", calls=[True])


def test_normalisation_and_gold_answers() -> None:
    assert normalize_answer("  The Victoria-Falls! ") == "victoriafalls"
    assert normalize_answer("An Apple, a day") == "apple day"
    assert gold_answers(EXAMPLE) == ["Victoria Falls", "Mosi-oa-Tunya", "The Victoria Falls"]
    assert gold_answers({"golden_answers": ["x", ""], "answers": "y"}) == ["y", "x"]


@pytest.mark.parametrize(
    ("answer", "exact", "f1"),
    [
        ("Victoria Falls", 1.0, 1.0),
        ("the victoria falls.", 1.0, 1.0),
        ("mosi-oa-tunya", 1.0, 1.0),
        ("Victoria", 0.0, pytest.approx(2 / 3)),
        ("Niagara", 0.0, 0.0),
        (None, 0.0, 0.0),
    ],
)
def test_correctness_exact_and_f1(answer: str | None, exact: float, f1: float) -> None:
    done = episode(f"<answer>{answer}</answer>", answer=answer)
    assert correctness(done, EXAMPLE) == exact
    assert correctness_f1(done, EXAMPLE) == f1


def test_tool_execution_is_the_share_of_calls_that_ran() -> None:
    assert tool_execution(episode(answer="x", calls=[True, False, True, True]), EXAMPLE) == 0.75
    assert tool_execution(episode(answer="x"), EXAMPLE) == 0.0


@pytest.mark.parametrize(
    ("turns", "answer", "expected"),
    [
        ((SEARCH, "<answer>Victoria Falls</answer>"), "Victoria Falls", 1.0),
        (("<think></think>\n" + SEARCH, "\n<answer>x</answer>\n"), "x", 1.0),
        ((SEARCH, "<answer>x</answer> and more"), "x", 0.0),
        (("Let me search. " + SEARCH, "<answer>x</answer>"), "x", 0.0),
        ((SEARCH + SEARCH, "<answer>x</answer>"), "x", 0.0),
        ((SEARCH, "<answer>x</answer><answer>y</answer>"), "x", 0.0),
        (("<answer>x</answer>", "<answer>x</answer>"), "x", 0.0),
        ((SEARCH,), None, 0.0),
    ],
)
def test_format_compliance(turns: tuple[str, ...], answer: str | None, expected: float) -> None:
    assert format_compliance(episode(*turns, answer=answer), EXAMPLE) == expected


def test_xml_structure_is_the_share_of_legal_turns() -> None:
    assert xml_structure(GOOD, EXAMPLE) == 1.0
    mixed = episode(
        SEARCH, "<answer>x", "<tool>{}</tool><think>late</think>", "<answer>x</answer>", answer="x"
    )
    assert xml_structure(mixed, EXAMPLE) == 0.5
    assert xml_structure(episode(answer=None), EXAMPLE) == 0.0


def test_non_thinking_penalises_only_non_empty_thoughts() -> None:
    assert non_thinking(GOOD, EXAMPLE) == 0.0
    assert (
        non_thinking(episode("<think>\n\n</think><answer>x</answer>", answer="x"), EXAMPLE) == 0.0
    )
    assert (
        non_thinking(episode("<think>hmm</think><answer>x</answer>", answer="x"), EXAMPLE) == -1.0
    )


def test_soft_overlong_follows_dapo() -> None:
    assert soft_overlong(16_384, 20_480, 4_096) == 0.0
    assert soft_overlong(18_432, 20_480, 4_096) == -0.5
    assert soft_overlong(20_480, 20_480, 4_096) == -1.0
    assert soft_overlong(30_000, 20_480, 4_096) == -1.0
    assert overlong_penalty(episode(answer="x", tokens=18_432), EXAMPLE) == -0.5


def test_stages_use_the_reports_rewards() -> None:
    names = {n: {f.__name__ for f, _ in stage.rewards} for n, stage in STAGES.items()}
    assert names[1] == {
        "correctness",
        "tool_execution",
        "format_compliance",
        "xml_structure",
        "non_thinking",
        "overlong_penalty",
    }
    assert names[2] == {"correctness", "non_thinking", "overlong_penalty"}
    assert STAGES[2].gate is xml_structure
    assert names[3] == {"correctness", "xml_structure", "non_thinking", "overlong_penalty"}


def test_score_returns_the_total_and_every_component() -> None:
    result = score(GOOD, EXAMPLE, 1)
    assert result.components == {
        "correctness": 1.0,
        "tool_execution": 1.0,
        "format_compliance": 1.0,
        "xml_structure": 1.0,
        "non_thinking": 0.0,
        "overlong_penalty": 0.0,
    }
    assert result.total == pytest.approx(1.6)
    heavier = score(GOOD, EXAMPLE, 1, weights={"tool_execution": 1.0, "overlong_penalty": 1.0})
    assert heavier.total == pytest.approx(2.4)
    assert heavier.components["overlong_penalty"] == 0.0


def test_stage_two_gates_correctness_on_valid_xml() -> None:
    broken = episode("<answer>Victoria Falls</answer></tool>", answer="Victoria Falls")
    assert correctness(broken, EXAMPLE) == 1.0
    result = score(broken, EXAMPLE, 2)
    assert result.total == 0.0
    assert result.components["xml_structure"] == 0.0
    assert score(GOOD, EXAMPLE, 2).total == 1.0


def test_bad_stage_configs_name_the_key() -> None:
    with pytest.raises(NanosearchError, match="unknown reward 'corectness'"):
        stage_from_config({"weights": {"corectness": 1.0}})
    with pytest.raises(NanosearchError, match=r"weights.correctness: weight must be a number"):
        stage_from_config({"weights": {"correctness": "high"}})
    with pytest.raises(NanosearchError, match="unknown key 'wieghts'"):
        stage_from_config({"wieghts": {}})
    with pytest.raises(NanosearchError, match="unknown reward 'nope'"):
        score(GOOD, EXAMPLE, 1, weights={"nope": 1.0})


turn_text = st.lists(
    st.sampled_from(
        [
            "<think>",
            "</think>",
            "<answer>",
            "</answer>",
            "<tool>",
            "</tool>",
            SEARCH,
            "x",
            " ",
            "hmm",
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    turns=st.lists(turn_text | st.text(max_size=60), max_size=5),
    answer=st.none() | st.text(max_size=30),
    calls=st.lists(st.booleans(), max_size=6),
    tokens=st.integers(0, 40_000),
    gold=st.text(max_size=20),
)
def test_every_reward_stays_in_its_range(
    turns: list[str], answer: str | None, calls: list[bool], tokens: int, gold: str
) -> None:
    built = episode(*turns, answer=answer, calls=calls, tokens=tokens)
    example = {"answer": gold, "answer_aliases": [gold.upper()]}
    for name, function in REWARDS.items():
        low, high = RANGES[name]
        assert low <= function(built, example) <= high, name
    for stage in STAGES:
        result = score(built, example, stage)
        assert json.dumps(result.components)


def test_protocol_and_rewards_import_no_heavy_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, nanosearch.protocol, nanosearch.rewards; "
        "heavy = {'torch', 'transformers', 'numpy', 'fastapi', 'bm25s'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("mode", "answer", "expected"),
    [
        ("em", "Victoria Falls", 1.0),
        ("em", "the falls are Victoria Falls", 0.0),
        ("substring", "the falls are Victoria Falls", 1.0),
        ("substring", "Victoria", 0.0),
        ("substring", "Niagara Iguazu Angel Tugela Kaieteur Gullfoss Victoria Falls", 0.0),
        ("f1", "Victoria", 2 / 3),
    ],
)
def test_correctness_modes(mode: str, answer: str, expected: float) -> None:
    function = correctness_function(mode, max_answer_words=6)
    assert function.__name__ == "correctness"
    said = episode("<answer>x</answer>", answer=answer)
    assert function(said, EXAMPLE) == pytest.approx(expected)
    assert function(episode("<tool>x</tool>"), EXAMPLE) == 0.0
    with pytest.raises(ValueError, match="unknown correctness mode"):
        correctness_function("fuzzy")


@given(st.text(max_size=40), st.text(max_size=40), st.integers(1, 12))
def test_cover_match_is_whole_words_within_the_cap(left: str, right: str, cap: int) -> None:
    gold = "Mosi-oa-Tunya"
    prediction = f"{left} {gold} {right}"
    words = len(normalize_answer(prediction).split())
    assert cover_match(prediction, [gold], cap) == float(words <= cap)
    assert cover_match(prediction, [gold]) == 1.0
    assert cover_match("Tunyas", ["Tunya"]) == 0.0


def test_score_takes_a_correctness_function_by_name() -> None:
    said = episode(SEARCH, "<answer>it is Victoria Falls</answer>", answer="it is Victoria Falls")
    stage = stage_from_config({"weights": {"correctness": 1.0}})
    assert score(said, EXAMPLE, stage).total == 0.0
    lenient = {"correctness": correctness_function("substring")}
    assert score(said, EXAMPLE, stage, functions=lenient).total == 1.0
