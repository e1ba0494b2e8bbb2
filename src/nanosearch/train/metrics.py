"""Per-stage ``metrics.jsonl`` (one line per logging step, every value TRL and the rollout log)
and a PNG of the reward curves of all stages."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from nanosearch.files import append_jsonl, write_jsonl

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "rewards.png"


class MetricsFile(TrainerCallback):
    """Append each log of the trainer to ``metrics.jsonl``, flushed line by line so that a
    killed run keeps every step it finished."""

    def __init__(self, path: Path, stage: str) -> None:
        self.path = path
        self.stage = stage

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **_: Any):
        if not state.is_world_process_zero or not logs:
            return
        append_metrics(self.path, self.stage, state.global_step, logs)


def append_metrics(path: Path, stage: str, step: int, values: dict[str, Any]) -> None:
    """One line of ``metrics.jsonl`` (non-finite numbers as null), appended and closed."""
    append_jsonl(path, [{"stage": stage, "step": step, **_finite(values)}])


def _finite(logs: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (None if isinstance(value, float) and not math.isfinite(value) else value)
        for key, value in logs.items()
    }


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    return records


def drop_steps_after(path: Path, last_step: int) -> None:
    """Drop the lines of a JSONL log whose ``step`` is after ``last_step`` (a resumed run logs
    those steps again): ``metrics.jsonl``, ``rollouts.jsonl``, ``heldout-episodes.jsonl``."""
    if not path.is_file():
        return
    write_jsonl(path, [r for r in read_metrics(path) if r.get("step", 0) <= last_step])


def training_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines that carry rewards: one per generation batch (the other optimizer steps of
    a batch log only loss-side metrics; TRL also logs a run summary without a reward)."""
    return [r for r in records if r.get("reward") is not None]


def reward_curves(records: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """``reward`` and every ``rewards/<name>/mean`` by step."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for record in training_records(records):
        for key, value in record.items():
            if value is None:
                continue
            if key == "reward":
                curves.setdefault("total", []).append((record["step"], value))
            elif key.startswith("rewards/") and key.endswith("/mean"):
                name = key.removeprefix("rewards/").removesuffix("/mean")
                if name != "episode_reward":
                    curves.setdefault(name, []).append((record["step"], value))
    return curves


def reward_span(path: Path) -> tuple[float, float] | None:
    """The first and last logged total reward of a stage, or None before its first step."""
    curve = reward_curves(read_metrics(path)).get("total")
    return (curve[0][1], curve[-1][1]) if curve else None


def plot_rewards(stages: list[tuple[str, Path]], out: Path) -> Path:
    """One panel per stage: the total reward and each component against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, len(stages), figsize=(5 * len(stages), 3.6), squeeze=False, sharey=True
    )
    for axis, (name, metrics_path) in zip(axes[0], stages, strict=True):
        curves = reward_curves(read_metrics(metrics_path))
        for label, points in sorted(curves.items(), key=lambda item: item[0] != "total"):
            steps, values = zip(*points, strict=True) if points else ((), ())
            axis.plot(
                steps,
                values,
                marker="o",
                markersize=3,
                label=label,
                linewidth=2.2 if label == "total" else 1.2,
            )
        axis.set_title(name)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if not curves:
            axis.text(0.5, 0.5, "no steps logged", ha="center", transform=axis.transAxes)
    axes[0][0].set_ylabel("mean reward")
    handles, labels = [], []
    for axis in axes[0]:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
