"""Training and evaluation data from the bundled MuSiQue sample and SimpleQA test set, and the
hub-loading path on local dataset directories (no hub can be reached here)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from nanosearch.assets import MUSIQUE_SAMPLE, SIMPLEQA_TEST
from nanosearch.data import (
    MIXTURE,
    build_mixture,
    hop_count,
    load_musique,
    load_simpleqa,
    split_dev,
)
from nanosearch.errors import NanosearchError


@pytest.fixture(scope="module")
def musique() -> list[dict]:
    return load_musique(MUSIQUE_SAMPLE)


def test_hop_counts_come_from_the_id() -> None:
    assert hop_count("2hop__150763_14904") == 2
    assert hop_count("3hop1__9285_5188_23307") == 3
    assert hop_count("4hop3__1_2_3_4") == 4
    with pytest.raises(NanosearchError, match="does not start with a hop count"):
        hop_count("question_7")


def test_bundled_sample_loads_with_hops_and_aliases(musique: list[dict]) -> None:
    assert len(musique) == 100
    assert Counter(e["hops"] for e in musique) == {2: 68, 3: 27, 4: 5}
    first = musique[0]
    assert first["id"] == "2hop__150763_14904"
    assert first["answer"] == "G. Stanley Hall"
    assert "Stanley Hall" in first["answer_aliases"]
    assert len(first["supporting_titles"]) == 2


def test_full_mixture_has_the_reports_counts() -> None:
    examples = [
        {"id": f"{hops}hop__{i}", "hops": hops, "question": "q", "answer": "a"}
        for hops, count in ((2, 8000), (3, 2500), (4, 1300))
        for i in range(count)
    ]
    mixture = build_mixture(examples, seed=1)
    assert not mixture.scaled
    assert mixture.counts == MIXTURE
    assert len(mixture.examples) == 10_325
    assert Counter(e["hops"] for e in mixture.examples) == {2: 7000, 3: 2150, 4: 1175}
    assert build_mixture(examples, seed=1).examples == mixture.examples
    assert build_mixture(examples, seed=2).examples != mixture.examples


def test_a_small_sample_keeps_the_proportions_and_says_so(musique: list[dict]) -> None:
    mixture = build_mixture(musique, seed=0)
    assert mixture.scaled
    assert mixture.counts == {2: 33, 3: 10, 4: 5}
    assert "only 68 2-hop, 27 3-hop, 5 4-hop questions available" in mixture.message
    assert "kept its proportions with 48 questions" in mixture.message
    shares = {h: c / 48 for h, c in mixture.counts.items()}
    for hops, count in MIXTURE.items():
        assert abs(shares[hops] - count / 10_325) < 0.03


def test_dev_split_is_held_out_and_seeded(musique: list[dict]) -> None:
    train, dev = split_dev(musique, 0.1, seed=3)
    assert len(dev) == 10 and len(train) == 90
    assert not {e["id"] for e in train} & {e["id"] for e in dev}
    assert split_dev(musique, 0.1, seed=3) == (train, dev)
    with pytest.raises(NanosearchError, match="dev_fraction"):
        split_dev(musique, 1.5)


def test_unanswerable_questions_are_left_out_and_bad_lines_named(tmp_path: Path) -> None:
    lines = MUSIQUE_SAMPLE.read_text().splitlines()[:3]
    record = json.loads(lines[2])
    record["answerable"] = False
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join([*lines[:2], json.dumps(record)]) + "\n")
    assert len(load_musique(path)) == 2
    path.write_text(lines[0] + "\n{oops\n")
    with pytest.raises(NanosearchError, match="line 2: invalid JSON"):
        load_musique(path)
    with pytest.raises(NanosearchError, match="MuSiQue file not found"):
        load_musique(tmp_path / "missing.jsonl")


def test_musique_loads_through_the_hub_path_from_a_local_dataset_dir(tmp_path: Path) -> None:
    directory = tmp_path / "musique-hub"
    directory.mkdir()
    (directory / "train.jsonl").write_text(MUSIQUE_SAMPLE.read_text())
    examples = load_musique(str(directory), split="train")
    assert [e["id"] for e in examples] == [e["id"] for e in load_musique(MUSIQUE_SAMPLE)]


def test_simpleqa_has_4326_rows_with_parsed_metadata() -> None:
    examples = load_simpleqa(SIMPLEQA_TEST)
    assert len(examples) == 4326
    first = examples[0]
    assert first["problem"] == "Who received the IEEE Frank Rosenblatt Award in 2010?"
    assert first["answer"] == "Michio Sugeno"
    assert (first["topic"], first["answer_type"]) == ("Science and technology", "Person")
    assert first["urls"][0].startswith("https://en.wikipedia.org/")
    assert len({e["id"] for e in examples}) == 4326


def test_simpleqa_limit_sample_and_filters() -> None:
    assert [e["id"] for e in load_simpleqa(SIMPLEQA_TEST, limit=3)] == [
        "simpleqa-0",
        "simpleqa-1",
        "simpleqa-2",
    ]
    sampled = load_simpleqa(SIMPLEQA_TEST, sample=20, seed=7)
    assert len(sampled) == 20
    assert sampled == load_simpleqa(SIMPLEQA_TEST, sample=20, seed=7)
    assert sampled != load_simpleqa(SIMPLEQA_TEST, sample=20, seed=8)
    dates = load_simpleqa(SIMPLEQA_TEST, answer_types=["Date"], topics=["Politics"])
    assert dates and all(e["answer_type"] == "Date" and e["topic"] == "Politics" for e in dates)
    with pytest.raises(NanosearchError, match="no SimpleQA question left"):
        load_simpleqa(SIMPLEQA_TEST, topics=["Cooking on Mars"])


def test_simpleqa_bad_files_are_named(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("question,answer\nq,a\n")
    with pytest.raises(NanosearchError, match="expected the columns metadata, problem, answer"):
        load_simpleqa(wrong)
    broken = tmp_path / "broken.csv"
    with broken.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["metadata", "problem", "answer"])
        writer.writerow(["{'topic': 'Art'", "q", "a"])
    with pytest.raises(NanosearchError, match="row 2: 'metadata' is not a Python dict literal"):
        load_simpleqa(broken)
    with pytest.raises(NanosearchError, match="SimpleQA file not found"):
        load_simpleqa(tmp_path / "nope.csv")


def test_simpleqa_loads_through_the_hub_path_from_a_local_dataset_dir(tmp_path: Path) -> None:
    directory = tmp_path / "simpleqa-hub"
    directory.mkdir()
    (directory / "test.csv").write_text(SIMPLEQA_TEST.read_text(encoding="utf-8"), encoding="utf-8")
    examples = load_simpleqa(str(directory), split="test", limit=5)
    assert examples == load_simpleqa(SIMPLEQA_TEST, limit=5)
