"""QA JSONL: our world's rows and FlashRAG / Search-R1 rows, with errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanosearch.data.qa import load_qa_jsonl
from nanosearch.errors import NanosearchError
from nanosearch.rewards.answers import gold_answers


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_rows_keep_their_fields_and_gain_a_problem(tmp_path: Path) -> None:
    rows = load_qa_jsonl(
        write(tmp_path / "q.jsonl", [{"id": "a", "question": "Q?", "answer": "x", "hops": 2}])
    )
    assert rows == [
        {
            "id": "a",
            "question": "Q?",
            "problem": "Q?",
            "answer": "x",
            "answer_aliases": [],
            "hops": 2,
        }
    ]


def test_golden_answers_become_the_answer_and_aliases(tmp_path: Path) -> None:
    rows = load_qa_jsonl(
        write(tmp_path / "q.jsonl", [{"question": "Q?", "golden_answers": ["x", "y"]}])
    )
    assert rows[0]["answer"] == "x" and rows[0]["id"] == "line-1"
    assert rows[0]["answer_aliases"] == ["y"] and set(gold_answers(rows[0])) == {"x", "y"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"answer": "x"}', "line 1: needs a non-empty string 'question'"),
        ('{"question": "Q", "answer": 3}', "line 1: needs a string 'answer'"),
        ("{not json", "line 1: not valid JSON"),
        ('{"question": "Q", "answer": "x", "answer_aliases": "y"}', "must be a list of strings"),
    ],
)
def test_a_bad_line_is_an_error_naming_it(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(NanosearchError, match=message):
        load_qa_jsonl(path)


def test_sample_and_limit(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", [{"question": f"Q{i}", "answer": "a"} for i in range(10)])
    assert len(load_qa_jsonl(path, limit=3)) == 3
    assert load_qa_jsonl(path, sample=4, seed=1) == load_qa_jsonl(path, sample=4, seed=1)
