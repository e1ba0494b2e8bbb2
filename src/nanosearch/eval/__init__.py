"""SimpleQA-style evaluation: graders (offline rules, LLM judge) and metrics."""

from nanosearch.eval.grading import GRADES, Grade, GradeResult, grade_offline
from nanosearch.eval.metrics import grade_counts, summarize, wilson_interval

__all__ = [
    "GRADES",
    "Grade",
    "GradeResult",
    "grade_counts",
    "grade_offline",
    "summarize",
    "wilson_interval",
]
