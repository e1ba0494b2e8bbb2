"""How far two graders agree, and how far each agrees with human labels, on the labelled set
of hard cases shipped with the package (partial names, numbers, dates, hedges, abstentions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from nanosearch.eval.grading import GRADES, GradeResult

GradeFn = Callable[[str, str, str | None], GradeResult]


def labelled_cases() -> list[dict[str, Any]]:
    text = resources.files("nanosearch.eval").joinpath("labelled_grades.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def cohen_kappa(first: list[str], second: list[str]) -> float:
    """Agreement beyond chance between two raters over the same items (1 = full, 0 = chance)."""
    total = len(first)
    if total == 0:
        return 0.0
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / total
    expected = sum((first.count(g) / total) * (second.count(g) / total) for g in GRADES)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(graders: dict[str, GradeFn], cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Each grader's grades, its agreement with the labels, and every pair's agreement."""
    grades = {
        name: [fn(c["problem"], c["answer"], c["prediction"]).grade for c in cases]
        for name, fn in graders.items()
    }
    labels = [c["label"] for c in cases]
    report: dict[str, Any] = {"cases": len(cases), "with_labels": {}, "between": {}}
    for name, given in grades.items():
        report["with_labels"][name] = {
            "agree": sum(a == b for a, b in zip(given, labels, strict=True)),
            "kappa": cohen_kappa(given, labels),
            "disagreements": [
                {"case": c.get("case"), "label": c["label"], "grade": g}
                for c, g in zip(cases, given, strict=True)
                if g != c["label"]
            ],
        }
    names = list(grades)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            pair = f"{first} vs {second}"
            report["between"][pair] = {
                "agree": sum(a == b for a, b in zip(grades[first], grades[second], strict=True)),
                "kappa": cohen_kappa(grades[first], grades[second]),
            }
    return report
