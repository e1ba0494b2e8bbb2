"""``nanosearch report``: runs of ``nanosearch eval`` side by side, next to the figures the
Jan-nano report published (shown as published, never as measured). The published SimpleQA
figures stand beside SimpleQA runs only, and Search-R1's beside runs of its QA sets: a report
of other questions (a QA JSONL, a world's test split) is titled with what it asked and compared
with nothing it did not.

Writes ``report.md`` (tables), ``report.html`` (the tables, then one row per question with its
trajectory, every tool call and result, behind a click) and ``report.png`` (accuracy per run
with its 95% interval, published figures in grey).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanosearch.errors import NanosearchError
from nanosearch.eval.metrics import summarize
from nanosearch.eval.results import JsonlLog

# SimpleQA accuracy (%) with MCP tools, as published in the Jan-nano technical report.
PUBLISHED: tuple[tuple[str, float], ...] = (
    ("Jan-nano (4B), MCP", 83.2),
    ("Qwen3-4B, MCP", 59.2),
    ("Jan-nano, LangGraph ReAct", 80.7),
    ("Jan-nano, smolagents CodeAgent", 76.2),
    ("Qwen3-4B, think mode", 71.0),
    ("Qwen3-8B, think mode", 62.2),
)
GRADER_NAMES = {"offline": "offline rule grader"}
QA_SETS = ("nq", "triviaqa", "popqa", "hotpotqa", "2wikimultihopqa", "musique", "bamboogle")
SEARCH_R1_SOURCE = (
    "Jin et al., Search-R1, arXiv:2503.09516, Table 2: exact match, PPO, E5 top-3 over the "
    "2018 Wikipedia dump"
)
PUBLISHED_QA: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("Search-R1, Qwen2.5-7B-Base", (0.480, 0.638, 0.457, 0.433, 0.382, 0.196, 0.432)),
    ("Search-R1, Qwen2.5-7B-Instruct", (0.393, 0.610, 0.397, 0.370, 0.414, 0.146, 0.368)),
    ("Search-R1, Qwen2.5-3B-Base", (0.406, 0.587, 0.435, 0.284, 0.273, 0.049, 0.088)),
    ("Search-R1, Qwen2.5-3B-Instruct", (0.341, 0.545, 0.378, 0.324, 0.319, 0.103, 0.264)),
)


SIMPLEQA = "SimpleQA"


@dataclass
class Run:
    label: str
    path: Path
    info: dict[str, Any]
    rows: list[dict[str, Any]]
    summary: dict[str, Any]

    @property
    def grader(self) -> str:
        names = sorted({str(row.get("grader")) for row in self.rows}) or [
            str(self.info.get("grader", "unknown"))
        ]
        return ", ".join(GRADER_NAMES.get(n, f"LLM judge {n.removeprefix('llm:')}") for n in names)

    @property
    def benchmark(self) -> str:
        """What the run asked: SimpleQA (also a run recorded before ``run.json`` said), the QA
        sets of ``eval qa``, or the name of the QA JSONL file ``eval simpleqa --data`` read."""
        dataset = self.info.get("dataset") or {}
        if dataset.get("task") == "qa":
            return ", ".join(sorted(dataset.get("sets") or {})) or "QA"
        source = str(dataset.get("source") or "")
        return source if source.endswith((".jsonl", ".jsonl.gz")) else SIMPLEQA


def asks_published_qa(runs: list[Run]) -> bool:
    """Whether some run asked a QA set Search-R1 published figures for."""
    return any(name in QA_SETS for run in runs for name in run.summary.get("by_dataset") or {})


def report_title(runs: list[Run]) -> str:
    asked = sorted({run.benchmark for run in runs})
    if asked == [SIMPLEQA]:
        return "SimpleQA evaluation report"
    return f"Evaluation report: {'; '.join(asked)}"


def load_run(path: Path) -> Run:
    results = path / "results.jsonl"
    if not results.exists():
        raise NanosearchError(f"{path} is not an eval run: it has no results.jsonl")
    try:
        info = json.loads((path / "run.json").read_text()) if (path / "run.json").exists() else {}
    except ValueError as error:
        raise NanosearchError(f"{path / 'run.json'} is not JSON ({error})") from None
    rows = JsonlLog(results).read()
    return Run(path.name or str(path), path, info, rows, summarize(rows))


def write_report(paths: list[Path], out: Path) -> list[Path]:
    runs = [load_run(Path(p)) for p in paths]
    seen: dict[str, int] = {}
    for run in runs:  # two runs from directories of the same name stay apart
        seen[run.label] = seen.get(run.label, 0) + 1
        if seen[run.label] > 1:
            run.label = f"{run.label} ({seen[run.label]})"
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.html", out / "report.png"]
    written[0].write_text(markdown(runs))
    written[1].write_text(html_report(runs, chart=written[2].name))
    bar_chart(runs, written[2])
    return written


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _summary_cells(run: Run) -> list[str]:
    s, costs = run.summary, run.summary["per_question"]
    low, high = s["accuracy_ci95"]
    return [
        run.label,
        str(run.info.get("agent", "")),
        str(run.info.get("model", "")),
        {True: "on", False: "off", None: "default"}.get(run.info.get("thinking"), "?"),
        run.grader,
        str(s["questions"]),
        str(s["correct"]),
        str(s["incorrect"]),
        str(s["not_attempted"]),
        f"{_pct(s['accuracy'])} [{_pct(low)}, {_pct(high)}]",
        _pct(s["accuracy_given_attempted"]),
        f"{s['f1']:.3f}",
        _pct(s["qa"]["em"]),
        f"{costs['tool_calls']:.2f}",
        f"{costs['turns']:.2f}",
        f"{costs['tokens']:.0f}",
        f"{costs['latency_s']:.2f}",
    ]


ACCURACY = "accuracy % [95% CI]"
SUMMARY_HEADER = [
    "run",
    "agent",
    "model",
    "thinking",
    "graded by",
    "questions",
    "correct",
    "incorrect",
    "not attempted",
    ACCURACY,
    "given attempted %",
    "F1",
    "EM %",  # exact match against the gold and its aliases, as training's held-out evaluation
    "tool calls/q",
    "turns/q",
    "tokens/q",
    "latency s/q",
]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def qa_rows(runs: list[Run]) -> list[list[str]]:
    """One row per run and QA data set: exact match, cover exact match, F1 (%)."""
    rows = []
    for run in runs:
        for name, found in (run.summary.get("by_dataset") or {}).items():
            qa = found["qa"]
            rows.append(
                [
                    run.label,
                    name,
                    str(qa["questions"]),
                    _pct(qa["em"]),
                    _pct(qa["cover_em"]),
                    _pct(qa["f1"]),
                ]
            )
    return rows


QA_HEADER = ["run", "data set", "questions", "EM %", "cover EM %", "F1 %"]
PUBLISHED_QA_HEADER = ["system (published)", *QA_SETS, "average"]


def published_qa_rows() -> list[list[str]]:
    return [
        [name, *(f"{100 * v:.1f}" for v in values), f"{100 * sum(values) / len(values):.1f}"]
        for name, values in PUBLISHED_QA
    ]


def markdown(runs: list[Run]) -> str:
    parts = [
        f"# {report_title(runs)}",
        "",
        "## Measured runs",
        "",
        "Every run names the grader that produced its grades.",
        "",
        _md_table(SUMMARY_HEADER, [_summary_cells(run) for run in runs]),
    ]
    if shown := published(runs):
        parts += [
            "",
            "## Published figures (not measured here)",
            "",
            "SimpleQA accuracy with MCP tools as published in the Jan-nano technical report, for "
            "reference only: these rows were not produced by this harness.",
            "",
            _md_table(
                ["system (published)", "accuracy %"],
                [[name, f"{value:.1f}"] for name, value in shown],
            ),
        ]
    if qa := qa_rows(runs):
        parts += [
            "",
            "## QA benchmarks",
            "",
            "Exact match, cover exact match (a gold answer inside the prediction) and token F1, "
            "each the best over the gold answers, per data set.",
            "",
            _md_table(QA_HEADER, qa),
        ]
        if asks_published_qa(runs):
            parts += [
                "",
                f"Published exact match % (not measured here; {SEARCH_R1_SOURCE}):",
                "",
                _md_table(PUBLISHED_QA_HEADER, published_qa_rows()),
            ]
    simpleqa_runs = [run for run in runs if run.benchmark == SIMPLEQA]
    for field, title in (("by_topic", "topic"), ("by_answer_type", "answer type")):
        if not simpleqa_runs:  # only SimpleQA's rows have a topic and an answer type
            break
        parts += ["", f"## By {title}", ""]
        for run in simpleqa_runs:
            groups = run.summary[field]
            parts += [
                f"**{run.label}**",
                "",
                _md_table(
                    [title, "questions", "correct", "incorrect", "not attempted", "accuracy %"],
                    [
                        [
                            name,
                            str(g["questions"]),
                            str(g["correct"]),
                            str(g["incorrect"]),
                            str(g["not_attempted"]),
                            _pct(g["accuracy"]),
                        ]
                        for name, g in groups.items()
                    ],
                ),
                "",
            ]
    parts += ["", "Per-question results with trajectories: `report.html`.", ""]
    return "\n".join(parts)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.published td { color: #666; font-style: italic; background: #fafafa; }
.badge { font-size: 11px; border: 1px solid #999; border-radius: 3px; padding: 0 4px; }
.correct { background: #d9f2d9; } .incorrect { background: #f8d7d7; }
.not_attempted { background: #eee; }
pre { white-space: pre-wrap; margin: 4px 0; max-height: 24em; overflow: auto;
      background: #f7f7f7; padding: 4px; }
.step { border-left: 3px solid #ccc; padding-left: 8px; margin: 6px 0; }
.step.tool { border-color: #6a9; } .step.failed { border-color: #c44; }
.step.feedback { border-color: #d90; }
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _trajectory_html(steps: list[dict[str, Any]]) -> str:
    parts = []
    for number, step in enumerate(steps, start=1):
        kind = step.get("type")
        if kind == "model":
            calls = "".join(
                f"<div>calls <code>{_esc(c.get('name'))}</code> "
                f"<code>{_esc(json.dumps(c.get('arguments'), ensure_ascii=False))}</code></div>"
                for c in step.get("tool_calls") or []
            )
            parts.append(
                f'<div class="step model"><b>{number}. model</b>'
                f"<pre>{_esc(step.get('content'))}</pre>{calls}</div>"
            )
        elif kind == "tool":
            status = "ok" if step.get("ok") else "failed"
            args = json.dumps(step.get("arguments"), ensure_ascii=False)
            parts.append(
                f'<div class="step tool {status}"><b>{number}. tool '
                f"<code>{_esc(step.get('name'))}</code></b> <code>{_esc(args)}</code> "
                f"({status})<pre>{_esc(step.get('content'))}</pre></div>"
            )
        else:
            parts.append(
                f'<div class="step feedback"><b>{number}. {_esc(kind)}</b>'
                f"<pre>{_esc(step.get('content'))}</pre></div>"
            )
    return "".join(parts) or "<i>no steps</i>"


def html_report(runs: list[Run], chart: str = "report.png") -> str:
    summary_rows = "".join(
        "<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in _summary_cells(run)) + "</tr>"
        for run in runs
    )
    published_rows = "".join(
        f'<tr class="published"><td>{_esc(name)} <span class="badge">published</span></td>'
        + "<td></td>" * (SUMMARY_HEADER.index(ACCURACY) - 1)
        + f"<td>{value:.1f} (published, not measured)</td>"
        + "<td></td>" * (len(SUMMARY_HEADER) - SUMMARY_HEADER.index(ACCURACY) - 1)
        + "</tr>"
        for name, value in published(runs)
    )
    header = "".join(f"<th>{_esc(h)}</th>" for h in SUMMARY_HEADER)
    sections = []
    if qa := qa_rows(runs):

        def table(head: list[str], rows: list[list[str]], css: str = "") -> str:
            cells = "".join(
                f"<tr{css}>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows
            )
            heads = "".join(f"<th>{_esc(h)}</th>" for h in head)
            return f'<table class="summary"><tr>{heads}</tr>{cells}</table>'

        sections.append(
            "<h2>QA benchmarks</h2><p>Exact match, cover exact match and token F1 per data "
            "set.</p>"
            + table(QA_HEADER, qa)
            + (
                f"<p>Published exact match %, not measured here ({_esc(SEARCH_R1_SOURCE)}):</p>"
                + table(PUBLISHED_QA_HEADER, published_qa_rows(), ' class="published"')
                if asks_published_qa(runs)
                else ""
            )
        )
    for run in runs:
        rows = []
        for row in run.rows:
            grade = row.get("grade", "")
            steps = row.get("trajectory") or []
            rows.append(
                "<tr>"
                f"<td>{_esc(row.get('id'))}</td><td>{_esc(row.get('problem'))}</td>"
                f"<td>{_esc(row.get('answer'))}</td><td>{_esc(row.get('prediction'))}</td>"
                f'<td class="{_esc(grade)}">{_esc(grade)}</td>'
                f"<td>{_esc(row.get('tool_calls'))}</td><td>{_esc(row.get('turns'))}</td>"
                f"<td>{_esc(row.get('latency_s'))}</td>"
                f"<td><details><summary>{len(steps)} steps</summary>"
                f"{_trajectory_html(steps)}</details></td>"
                "</tr>"
            )
        sections.append(
            f"<h2>{_esc(run.label)}: {len(run.rows)} questions</h2>"
            f"<p>Graded by: <b>{_esc(run.grader)}</b>. Agent {_esc(run.info.get('agent'))}, "
            f"model {_esc(run.info.get('model'))}.</p>"
            '<table class="questions"><tr><th>id</th><th>question</th><th>gold answer</th>'
            "<th>prediction</th><th>grade</th><th>tool calls</th><th>turns</th>"
            "<th>latency s</th><th>trajectory</th></tr>" + "".join(rows) + "</table>"
        )
    title = report_title(runs)
    legend = (
        "; grey rows are figures <b>published</b> in the Jan-nano report, shown for reference "
        "and not measured here"
        if published_rows
        else ""
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{_esc(title)}</h1>"
        f"<p>Measured runs, each with the grader that produced it{legend}.</p>"
        f'<table class="summary"><tr>{header}</tr>{summary_rows}{published_rows}</table>'
        f'<img src="{_esc(chart)}" alt="accuracy per run" style="max-width: 900px">'
        + "".join(sections)
        + "</body></html>"
    )


def published(runs: list[Run]) -> tuple[tuple[str, float], ...]:
    """The published SimpleQA figures, where some run asked SimpleQA (none otherwise)."""
    return PUBLISHED if any(run.benchmark == SIMPLEQA for run in runs) else ()


def bar_chart(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = published(runs)
    labels = [run.label for run in runs] + [f"{name}\n(published)" for name, _ in shown]
    measured = [100 * run.summary["accuracy"] for run in runs]
    figures = [value for _, value in shown]
    errors = [
        [100 * (r.summary["accuracy"] - r.summary["accuracy_ci95"][0]) for r in runs],
        [100 * (r.summary["accuracy_ci95"][1] - r.summary["accuracy"]) for r in runs],
    ]
    figure, axes = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 4.5))
    axes.bar(range(len(runs)), measured, color="tab:blue", yerr=errors, capsize=4)
    axes.bar(
        range(len(runs), len(labels)),
        figures,
        color="lightgrey",
        hatch="//",
        edgecolor="grey",
    )
    values = measured + figures
    for x, value in enumerate(values):
        axes.text(x, value + 1, f"{value:.1f}", ha="center", fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(f"{SIMPLEQA} accuracy (%)" if shown else "accuracy (%)")
    axes.set_ylim(0, 105)
    axes.set_title(
        "Measured runs (blue, 95% CI) and published figures (grey, not measured)"
        if shown
        else "Measured runs (95% CI)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
